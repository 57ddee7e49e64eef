"""Fuzz campaign for the bridge's P1 reader on the virtual ESP8266's MicroPython.

Not a test and not run in CI: a long run that prints figures. Run from the
repository root:  .venv/bin/python bench/fuzz_reader.py [--cases N] [--seed S]

Streams and oracle are the ones of tests/bridge/test_reader_properties.py, imported:
captures/ telegrams (some with values rewritten and a fresh CRC) flipped, replaced,
truncated, spliced, with noise and 0xFF floods between and inside them, in random
chunk sizes. They go to one long-running tests/bridge/mpy/prop_harness.py child
(restarted, and counted, if it dies or hangs) that runs the reader's modules as
deployed: precompiled by mpy-cross for the board model's native arch.

Must be 0, else exit status 1: commits whose values are not exactly those of a
CRC-valid telegram in the stream (in stream order), and exceptions out of
P1Reader.feed. Each finding prints its seed and case index and writes the stream
to /tmp; `--seed S --first I --cases 1` replays case I alone.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "bridge"))
import test_reader_properties as prop  # noqa: E402
from conftest import FIRMWARE, MPY_SCRIPTS, mpy_env  # noqa: E402  (tests/bridge/conftest.py)
from hypothesis.control import BuildContext  # noqa: E402
from hypothesis.errors import StopTest, UnsatisfiedAssumption  # noqa: E402
from hypothesis.internal.conjecture.data import ConjectureData  # noqa: E402

from hil import p1  # noqa: E402
from hil.rig.firmware import build  # noqa: E402
from hil.sim.model import board_model  # noqa: E402

HANG_S = 30  # no answer for this long: the reader is stuck, the child gets killed
PROGRESS_S = 5
MAX_DUMPS = 20  # streams written to /tmp; later findings are only counted
STREAMS = prop.streams()
READER_MODULES = ("obis.py", "obismap.py", "p1reader.py", "p1reader_portable.py")


def use_table_crc():
    """Swap hil.p1.crc16 for the same CRC16/ARC from an int table, after checking
    they agree. dsmr-parser's (which hil.p1 wraps) parses a hex string per byte, and
    it was half of the campaign's time: replace_value re-CRCs every rewrite and the
    oracle CRCs every candidate telegram."""
    table = []
    for c in range(256):
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)

    def crc16(data):
        c = 0
        for b in bytes(data):
            c = (c >> 8) ^ table[(c ^ b) & 255]
        return c

    for t in prop.BASES + (bytes(range(256)) * 3,):
        for body in (t, t[:len(t) // 3], t[1:-7]):
            assert crc16(body) == p1.crc16(body), body[:20]
    p1.crc16 = crc16


def make_case(seed, index):
    """Case `index` of campaign `seed`, independent of every other case.

    Hypothesis's engine keeps every example it ran and shrinks failures, neither of
    which suits a million cases; drawing the test's strategy from a Random seeded
    per case keeps its distributions and makes any case replayable on its own.
    ConjectureData is internal API, fine with hypothesis pinned in pyproject.toml.
    """
    rnd = random.Random("%d:%d" % (seed, index))
    while True:
        data = ConjectureData(random=rnd)
        try:
            with BuildContext(data, wrapped_test=None):  # the strategies record event()s
                return data.draw(STREAMS)
        except (StopTest, UnsatisfiedAssumption):  # over-long draw or a filter gave up
            continue


class Child:
    """The harness child with one case in flight, so CPython draws and judges the
    next case while MicroPython reads this one (2 cores). One in flight cannot
    deadlock: both pipes would have to fill (64 KB), and streams and answers stay
    far below that."""

    def __init__(self, env, tmp):
        self._env, self._tmp = env, tmp
        self.inflight = deque()  # (index, case), oldest first
        self.restarts = 0
        self._killed = False
        self._last = time.monotonic()
        self._start()
        threading.Thread(target=self._watchdog, daemon=True).start()

    def _start(self):
        self.harness = prop.Harness(self._tmp, env=self._env)
        self.contract = self.harness.contract

    def _watchdog(self):
        # A reader stuck in a loop would stall the campaign silently; killing the
        # child turns the hang into a death that names the case.
        while True:
            time.sleep(1)
            if self.inflight and time.monotonic() - self._last > HANG_S:
                self._last = time.monotonic()
                self._killed = True
                self.harness._proc.kill()

    def push(self, index, case):
        """[(index, case, result or HarnessError)] for the cases answered meanwhile."""
        self.inflight.append((index, case))
        done = []
        try:
            self.harness.send(case.chunks, case.stream)
            while len(self.inflight) > 1:
                done.append(self._answer())
        except prop.HarnessError as e:
            done.append(self._died(e))
        return done

    def drain(self):
        done = []
        while self.inflight:
            try:
                done.append(self._answer())
            except prop.HarnessError as e:
                done.append(self._died(e))
        return done

    def _answer(self):
        result = self.harness.result()
        self._last = time.monotonic()
        index, case = self.inflight.popleft()
        return index, case, result

    def _died(self, error):
        # The child answers in order, so the oldest unanswered case is the one it
        # died on; the others are sent again to a fresh child.
        index, case = self.inflight.popleft()
        if self._killed:
            self._killed = False
            error = prop.HarnessError("no answer for %d s, killed (the reader hangs?): %s" % (HANG_S, error))
        self.restarts += 1
        if self.restarts > 100:
            sys.exit("harness died %d times; last:\n%s" % (self.restarts, error))
        self.harness.close()
        self._start()
        for _, c in self.inflight:
            self.harness.send(c.chunks, c.stream)
        self._last = time.monotonic()
        return index, case, error


def judge(case, result, contract):
    """Counter of must-be-0 and other findings for one answered case, and a text."""
    if isinstance(result, prop.HarnessError):
        return Counter(deaths=1), str(result)
    commits, error, counters, protocol = result
    found, text = Counter(), []
    if error is not None:
        found["exceptions"] += 1
        text.append("exception escaped P1Reader.feed:\n" + error)
    if protocol:
        found["protocol"] += 1
        text.append("sink protocol violated: %s" % protocol)
    twice = [n + 1 for n, pairs in enumerate(commits) if len(dict(pairs)) != len(pairs)]
    if twice:
        # A CRC-valid telegram can carry a line twice (the damage met a CRC16 collision,
        # seed 20261202 case 57736); the test counts that as a failure, here it is
        # only a figure, and the values are judged as Snapshot publishes them: last wins.
        found["staged_twice"] += 1
        text.append("commit(s) %s staged a slot twice" % twice)
    published = [list(dict(pairs).items()) for pairs in commits]
    # Commits are judged even when the reader also raised: one figure must not hide the other.
    problem, _, _ = prop.judge(case, (published, None, counters, []), contract)
    if problem:
        found["bad_commits"] += 1
        text.append(problem)
    return found, "\n".join(text)


def report_finding(seed, index, case, found, text, dumps):
    path = None
    if dumps < MAX_DUMPS:
        path = Path(tempfile.gettempdir()) / ("fuzz_reader-seed%d-case%d.p1" % (seed, index))
        path.write_bytes(case.stream)
    print("FINDING seed %d case %d (%s): %d-byte stream in %s, chunks %r; replay: --seed %d --first %d --cases 1\n%s"
          % (seed, index, ", ".join(sorted(found)), len(case.stream), path or "(not written: too many)",
             case.chunks, seed, index, text), flush=True)


def firmware_env(tmp, portable):
    """MICROPYPATH with the reader's modules precompiled as they go onto the board."""
    src, mpy = tmp / "src", tmp / "mpy"
    src.mkdir()
    for name in READER_MODULES:  # only these: the rest of the firmware is not under test
        shutil.copy(FIRMWARE / name, src)
    build(src, mpy, board_model().arch)
    # Ahead of .frozen, so an interpreter with the bridge frozen in still runs these.
    dirs = [str(mpy), ".frozen", str(MPY_SCRIPTS)]
    if portable:  # the harness imports p1reader: make that name the bytecode fallback
        shim = tmp / "portable"
        shim.mkdir()
        (shim / "p1reader.py").write_text("from p1reader_portable import P1Reader\n")
        dirs.insert(0, str(shim))
    env = mpy_env()
    env["MICROPYPATH"] = os.pathsep.join(dirs)
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--first", type=int, default=0, help="index of the first case (replay one with --cases 1)")
    ap.add_argument("--portable", action="store_true", help="fuzz p1reader_portable instead of p1reader")
    args = ap.parse_args()
    seed = random.randrange(2**32) if args.seed is None else args.seed
    use_table_crc()
    model = board_model()
    print("seed %d, cases %d from %d, reader %s, interpreter %s (%s)" % (
        seed, args.cases, args.first, "p1reader_portable" if args.portable else "p1reader",
        model.interpreter, model.name), flush=True)

    totals, seen = Counter(), Counter()
    with tempfile.TemporaryDirectory(prefix="fuzz_reader-") as tmp:
        child = Child(firmware_env(Path(tmp), args.portable), Path(tmp))
        t0 = last = time.monotonic()

        def tally(answered):
            for index, case, result in answered:
                found, text = judge(case, result, child.contract)
                if found:
                    report_finding(seed, index, case, found, text, totals["findings"])
                    totals["findings"] += 1
                    totals.update(found)
                if not isinstance(result, prop.HarnessError):
                    commits, _, counters, _ = result
                    seen["commits"] += len(commits)
                    seen["rejected"] += counters["crc_errors"] + counters["truncated"] + counters["framing"]

        for i in range(args.first, args.first + args.cases):
            tally(child.push(i, make_case(seed, i)))
            now = time.monotonic()
            if now - last >= PROGRESS_S:
                last = now
                done = i + 1 - args.first
                print("progress: %d cases, %.1f cases/s, %d findings" % (done, done / (now - t0), totals["findings"]),
                      flush=True)
        tally(child.drain())
        wall = time.monotonic() - t0
        child.harness.close()

    print("cases run: %d" % args.cases)
    print("cases per second: %.1f" % (args.cases / wall))
    print("wall time: %.1f s" % wall)
    print("values committed outside a CRC-valid telegram: %d (cases with such a commit)" % totals["bad_commits"])
    print("reader exceptions: %d" % totals["exceptions"])
    print("sink-protocol violations: %d" % totals["protocol"])
    print("commits staging a slot twice (values judged as published, last wins): %d" % totals["staged_twice"])
    print("harness deaths/hangs (child restarted): %d" % totals["deaths"])
    # Not vacuous: the reader committed telegrams and rejected damaged ones.
    print("telegrams committed: %d; telegrams rejected (crc_errors + truncated + framing): %d"
          % (seen["commits"], seen["rejected"]))
    return 1 if totals["bad_commits"] or totals["exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
