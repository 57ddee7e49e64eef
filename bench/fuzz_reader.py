"""Fuzz campaign for the bridge's P1 reader on the virtual ESP8266's MicroPython.

Not a test and not run in CI: a long run that prints figures. Run from the
repository root:  .venv/bin/python bench/fuzz_reader.py [--cases N] [--seed S] [--jobs J]

Cases are drawn in CPython with a plain random.Random seeded by (seed, case index),
so any case replays alone (`--seed S --first I --cases 1`): telegrams from
captures/ (some with values rewritten and a fresh CRC) flipped, replaced,
truncated, spliced, with noise and 0xFF floods between and inside them, fed in
random chunk sizes. J workers (default: one per core) each keep a
bench/fuzz_child.py child on the board model's interpreter busy with many cases in
flight; the child runs the reader's modules as deployed (precompiled by mpy-cross
for the board's native arch) and is restarted, and the case counted, if it dies or
hangs.

The oracle is tests/bridge/test_reader_properties.py's (hil.p1.framing's CRC16 and COSEM
parser, slots named from the literal obis.TABLE), never the firmware's code.
Must be 0, else exit status 1 and a last line "FAILED: ..." naming them: commits
whose values are not exactly those of a CRC-valid telegram in the stream (in
stream order), exceptions out of P1Reader.feed, sink-protocol violations, and
cases on which the child died or hung. A damaged telegram whose CRC16 still
matches by chance is CRC-valid: its commits are counted apart, not as failures;
so is a slot staged twice (a line sent twice: the last one is published, as
dsmr-parser reads it). Each finding prints its seed and case index and writes the
stream to /tmp.
"""

import argparse
import multiprocessing
import os
import queue
import random
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "bridge"))  # ahead of ROOT: its conftest.py is the one meant
import test_reader_properties as prop  # noqa: E402  (the oracle; its streams' ingredients)
from firmware_set import precompile  # noqa: E402  (bench/firmware_set.py)

from hil.p1 import framing as p1  # noqa: E402
from hil.sim.model import board_model  # noqa: E402

CHILD = Path(__file__).resolve().parent / "fuzz_child.py"
HANG_S = 30  # no answer for this long: the reader is stuck, the child gets killed
PROGRESS_S = 5
MAX_DUMPS = 20  # streams written to /tmp; later findings are only counted
BLOCK = 200  # cases a worker draws and sends at once
INFLIGHT = 600  # cases sent and not yet answered, per child: keeps it busy while the host judges
VARIANTS = 4096  # rewritten telegrams per capture, drawn once per seed (see Cases.variant)
VALID_CACHE = 50_000  # CRC-valid telegram bodies whose values the oracle remembers


# -- CRC ----------------------------------------------------------------------------


def fast_crc16():
    """CRC16/ARC taking two bytes per step, checked against hil.p1.framing's (dsmr-parser's).

    The state is 16 bits wide, so one lookup in a 65,536-entry table (the byte-wise
    step run twice from state x with zero bytes) does two bytes: a quarter of the
    time of the byte table, and dsmr-parser's (hex string per byte) is 4x slower
    still. The oracle CRCs every candidate telegram it has not seen, so this is
    most of its cost."""
    t8 = []
    for c in range(256):
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t8.append(c)
    t16 = [0] * 65536
    for x in range(65536):
        c = (x >> 8) ^ t8[x & 255]
        t16[x] = (c >> 8) ^ t8[c & 255]
    swap = sys.byteorder != "little"

    def crc16(data):
        data = bytes(data)
        even = len(data) & ~1
        words = array("H", data[:even])
        if swap:
            words.byteswap()
        c = 0
        for w in words:
            c = t16[c ^ w]
        if even != len(data):
            c = (c >> 8) ^ t8[(c ^ data[-1]) & 255]
        return c

    reference = p1.crc16
    for t in prop.BASES + (bytes(range(256)) * 3,):
        for body in (t, t[:len(t) // 3], t[1:-7], t[:1], b""):
            assert crc16(body) == reference(body), body[:20]
    return crc16


# -- cases --------------------------------------------------------------------------

# The same ingredients as test_reader_properties.py's Hypothesis strategies,
# drawn with random.Random: ~100x cheaper per case than Hypothesis's engine.
NOISE_LITERALS = (
    b"/", b"!", b"\r\n", b"\r\n!", b"\r\n/", b"\n!5C2E\r\n", b"\r\n!99DA\r\n", b"!0000\r\n",
    b"/AUX59903218166\r\n\r\n", b"/SAG5SAG-METER\r\n\r\n", b"1-0:1.8.0(999999.999*kWh)\r\n",
    b"\r\n1-0:32.7.0(1.0*V)\r\n", b"0-0:96.13.0(" + b"\xff" * 64, b"\r\n\r\n",
)
SEGMENTS = ("clean", "damaged", "damaged", "splice", "aligned_splice", "noise")
_DIGIT = re.compile(rb"[0-9]")


class Case(prop.Case):
    """A stream, its chunk sizes, and what was done to it (printed with a finding)."""

    def __init__(self, stream, chunks, recipe):
        super().__init__(stream, chunks)
        self.recipe = recipe


class Cases:
    """Case i of campaign `seed`, a function of (seed, i) alone."""

    def __init__(self, seed):
        self.seed = seed
        self._variants = {}
        # '/' .. '!' of every telegram drawn intact (captures, variants made so far):
        # a CRC-valid telegram not among them is damage that met a CRC16 collision.
        self.intact = {t[:t.rindex(b"!") + 1] for t in prop.BASES}

    def variant(self, base, k):
        """Variant k of capture `base`: 1-3 values rewritten, CRC recomputed.

        Drawn from (seed, base, k) and kept: replace_value re-CRCs the telegram,
        which per case would cost as much as the rest of the case. 4096 per
        capture keeps the point of variants (same meter, other values, valid CRC:
        a splice of two looks perfect but for its CRC) at a fraction of the cost."""
        t = self._variants.get((base, k))
        if t is None:
            rnd = random.Random("%d:variant:%d:%d" % (self.seed, base, k))
            t = prop.BASES[base]
            for _ in range(rnd.randint(1, 3)):
                t = p1.replace_value(t, rnd.choice(prop.REWRITABLE[base]), number_text(rnd))
            self._variants[(base, k)] = t
            self.intact.add(t[:t.rindex(b"!") + 1])
        return t

    def telegram(self, rnd, base=None):
        """(capture index, telegram): the capture itself one time in four, as the
        test's integers(0, 3) rewrites give it, else one of its variants."""
        if base is None:
            base = rnd.randrange(2)
        if rnd.randrange(4) == 0:
            return base, prop.BASES[base]
        return base, self.variant(base, rnd.randrange(VARIANTS))

    def segment(self, rnd, recipe):
        kind = rnd.choice(SEGMENTS)
        if kind == "noise":
            recipe.append("noise")
            return noise(rnd)
        ia, a = self.telegram(rnd)
        if kind == "clean":
            recipe.append("clean")
            return a
        if kind == "damaged":
            data = bytearray(a)
            done = [mutate(rnd, data) for _ in range(rnd.randint(1, 3))]
            recipe.append("damaged(%s)" % ",".join(done))
            return bytes(data)
        if kind == "aligned_splice":
            # Same meter, values differ: the head of one and the tail of the other
            # at the same offset look perfect except for the CRC (if it comes from b).
            _, b = self.telegram(rnd, ia)
            cut = rnd.randint(0, min(len(a), len(b)))
            recipe.append("aligned_splice@%d" % cut)
            return a[:cut] + b[cut:]
        _, b = self.telegram(rnd)
        i, j = rnd.randint(0, len(a)), rnd.randint(0, len(b))
        recipe.append("splice@%d+%d" % (i, j))
        return a[:i] + b[j:]

    def case(self, index):
        rnd = random.Random("%d:%d" % (self.seed, index))
        recipe = []
        data = bytearray(b"".join(self.segment(rnd, recipe) for _ in range(rnd.randint(1, 5))))
        for _ in range(rnd.randint(0, 2)):
            recipe.append("stream:" + mutate(rnd, data))
        return Case(bytes(data), [chunk_size(rnd) for _ in range(rnd.randint(1, 8))], " ".join(recipe))


def number_text(rnd):
    """A match of the test's -?0{0,3}[0-9]{1,7}(\\.[0-9]{1,4})?"""
    digits = lambda lo, hi: "".join(rnd.choice("0123456789") for _ in range(rnd.randint(lo, hi)))  # noqa: E731
    return (rnd.choice(("", "-")) + "0" * rnd.randint(0, 3) + digits(1, 7)
            + (("." + digits(1, 4)) if rnd.randrange(2) else ""))


def noise(rnd):
    kind = rnd.randrange(3)
    if kind == 0:  # random bytes, half of them the ones P1 framing is made of
        return bytes(rnd.choice(prop.SPECIAL) if rnd.randrange(2) else rnd.randrange(256)
                     for _ in range(rnd.randint(1, 48)))
    if kind == 1:
        return b"\xff" * rnd.randint(1, 1100)
    return rnd.choice(NOISE_LITERALS)


def chunk_size(rnd):
    # UART reads give anything from 1 byte to a full buffer; the small ones are
    # where a state kept across feed() calls breaks, so they are drawn often.
    r = rnd.randrange(8)
    if r == 0:
        return rnd.randint(1, 8)
    if r < 3:
        return rnd.randint(1, 64)
    return rnd.randint(1, 512)


def mutate(rnd, data):
    """One random damage to data (bytearray, changed in place); returns its name."""
    kind = rnd.choice(prop.MUTATIONS)
    if not data:
        data[:] = noise(rnd)
        return "insert"
    i = rnd.randrange(len(data))
    if kind == "flip":
        data[i] ^= rnd.randint(1, 255)
    elif kind == "replace":
        data[i] = rnd.choice(prop.SPECIAL) if rnd.randrange(2) else rnd.randrange(256)
    elif kind == "digit":  # a digit for another digit: only the CRC can tell
        m = _DIGIT.search(data, i) or _DIGIT.search(data)
        if m:
            j = m.start()
            data[j] = 0x30 + (data[j] - 0x30 + rnd.randint(1, 9)) % 10
    elif kind == "truncate":
        del data[i:]
    elif kind == "drop_head":
        del data[:i]
    elif kind == "delete":
        del data[i:i + rnd.randint(1, 64)]
    elif kind == "insert":
        data[i:i] = noise(rnd)
    elif kind == "duplicate":
        piece = data[i:i + rnd.randint(1, 400)]
        k = rnd.randint(0, len(data))
        data[k:k] = piece
    return kind


# -- the oracle ---------------------------------------------------------------------


def contract_from_table():
    """Slot -> name/kind and OBIS -> slot from the literal obis.TABLE alone (slot =
    order of a name's first appearance, as obis.py documents), so the campaign
    reads nothing of the firmware's own tables, whatever shape they take."""
    rows = prop._table_from_source()
    if rows is None:
        sys.exit("bridge_firmware/obis.py has no literal TABLE: cannot name slots")
    return prop.Contract(list(dict.fromkeys(name for _, name, _ in rows)), [], None, None)


class Oracle:
    """test_reader_properties.judge's verdict on commits, computed lazily.

    That judge lists every CRC-valid telegram of the stream, then matches each
    commit, in order, to the next one with equal values. Here the candidates
    (a '/' .. line-initial '!' + CRC field, found exactly as crc_valid_telegrams
    finds them) are walked in the same order, and a candidate is CRC'd only when
    reached, its values parsed only when its CRC matches, and those values kept:
    CRC-valid bodies repeat (captures and their variants), damaged ones do not.
    Same verdict (tests/host/test_fuzz_reader.py checks it against prop.judge),
    and a case with no commit costs nothing."""

    def __init__(self, contract, crc16):
        self.contract = contract
        self.crc16 = crc16
        self._valid = {}  # '/' .. '!' bytes -> (CRC, {slot: value})

    @staticmethod
    def candidates(stream):
        floor = 0
        for m in prop._BANG_LINE.finditer(stream):
            bang = m.end() - 1
            start = stream.rfind(b"/", floor, bang)
            floor = bang
            if start < 0:
                continue
            field = prop._CRC_FIELD.match(stream, bang + 1)
            if field is not None:
                yield start, bang, m.start(), int(field.group(), 16)

    def _values_if_valid(self, stream, start, bang, lf, field):
        key = stream[start:bang + 1]
        hit = self._valid.get(key)
        if hit is None:
            crc = self.crc16(key)
            if crc != field:
                return None
            if len(self._valid) >= VALID_CACHE:
                self._valid.clear()
            # CRs before '!' dropped, as crc_valid_telegrams hands it to cosem_values
            hit = self._valid[key] = (crc, prop.expected_values(stream[start:lf + 1] + b"!", self.contract))
        return hit[1] if hit[0] == field else None

    def first_bad(self, stream, commits):
        """(index of the first commit (a {slot: value} dict) that matches no CRC-valid
        telegram after the previous commit's, offset of that previous telegram's '!'
        (0 for the first commit)), or None if every commit matches."""
        cands = self.candidates(stream)
        floor = 0
        for n, got in enumerate(commits):
            for start, bang, lf, field in cands:
                if self._values_if_valid(stream, start, bang, lf, field) == got:
                    floor = bang
                    break
            else:
                return n, floor
        return None


# -- the MicroPython child ------------------------------------------------------------


class HarnessError(RuntimeError):
    """The child died, hung or broke its protocol; carries its stderr."""

    hung = False  # killed by the watchdog after HANG_S without an answer


class Child:
    """One fuzz_child.py process, many cases in flight.

    A sender thread writes cases while the worker judges answers: with cases both
    ways bigger than a pipe's 64 KB, one thread doing both could deadlock. The
    child answers in order, so the oldest unanswered case is the one it died or
    hung on."""

    def __init__(self, cmd, env, tmp):
        self._cmd, self._env, self._tmp = cmd, env, tmp
        self.inflight = deque()  # (index, case), oldest first
        self.restarts = 0
        self._killed = False
        self._start()
        threading.Thread(target=self._watchdog, daemon=True).start()

    def _start(self):
        self._err_path = self._tmp / ("fuzz_child-%d.stderr" % os.getpid())
        self._err = open(self._err_path, "wb")
        self.proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     env=self._env, cwd=str(ROOT))
        self._q = queue.Queue()
        threading.Thread(target=self._sender, args=(self.proc, self._q), daemon=True).start()
        self._last = time.monotonic()
        self.keys = self._recv().decode().split(",")

    @staticmethod
    def _sender(proc, q):
        while True:
            blob = q.get()
            if blob is None:
                return
            try:
                proc.stdin.write(blob)
                proc.stdin.flush()
            except (OSError, ValueError):  # the child died: the reading side notices
                return

    def _watchdog(self):
        # A reader stuck in a loop would stall the campaign silently; killing the
        # child turns the hang into a death that names the case.
        while True:
            time.sleep(1)
            if self.inflight and time.monotonic() - self._last > HANG_S:
                self._last = time.monotonic()
                self._killed = True
                self.proc.kill()

    def _recv(self):
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise HarnessError(self._died())
        n = struct.unpack("<I", head)[0]
        body = self.proc.stdout.read(n)
        if len(body) < n:
            raise HarnessError(self._died())
        return body

    def _died(self):
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = "still running"
        self._err.flush()
        return "fuzz_child.py stopped answering (exit %s); stderr in %s:\n%s" % (
            rc, self._err_path, self._err_path.read_text(errors="replace")[-2000:])

    @staticmethod
    def encode(case):
        msg = struct.pack("<H%dH" % len(case.chunks), len(case.chunks), *case.chunks) + case.stream
        return struct.pack("<I", len(msg)) + msg

    def send(self, cases):
        """cases: [(index, case)]."""
        if not self.inflight:
            self._last = time.monotonic()  # the hang clock runs from the oldest case in flight
        self.inflight.extend(cases)
        self._q.put(b"".join(self.encode(c) for _, c in cases))

    def answer(self):
        """(index, case, decoded answer or HarnessError) for the oldest case in flight."""
        try:
            body = self._recv()
        except HarnessError as e:
            return self._restart(e)
        self._last = time.monotonic()
        index, case = self.inflight.popleft()
        return index, case, decode(body, self.keys)

    def _restart(self, error):
        index, case = self.inflight.popleft()
        if self._killed:
            self._killed = False
            error = HarnessError("no answer for %g s, killed (the reader hangs?): %s" % (HANG_S, error))
            error.hung = True
        self.restarts += 1
        if self.restarts > 100:
            sys.exit("fuzz child died %d times; last:\n%s" % (self.restarts, error))
        self.close()
        rest = list(self.inflight)
        self.inflight.clear()
        self._start()
        if rest:
            self.send(rest)
        return index, case, error

    def close(self):
        self._q.put(None)
        try:
            self.proc.stdin.write(b"\0\0\0\0")
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def decode(b, keys):
    """(commits [[(slot, value)]], error text or None, counters, protocol) from the child."""
    pos = 1
    error = None
    if b[0]:
        n = struct.unpack_from("<I", b, 1)[0]
        error = b[5:5 + n].decode(errors="replace")
        pos = 5 + n
    values = struct.unpack_from("<%dI" % len(keys), b, pos)
    counters = dict(zip(keys, values))
    pos += 4 * len(keys)
    protocol = []
    (np,) = struct.unpack_from("<H", b, pos)
    pos += 2
    for _ in range(np):
        (n,) = struct.unpack_from("<H", b, pos)
        protocol.append(b[pos + 2:pos + 2 + n].decode(errors="replace"))
        pos += 2 + n
    commits = []
    (nc,) = struct.unpack_from("<H", b, pos)
    pos += 2
    for _ in range(nc):
        k, size = struct.unpack_from("<HI", b, pos)
        pos += 6
        end = pos + size
        pairs = []
        while pos < end:
            slot, n = struct.unpack_from("<HH", b, pos)
            pairs.append((slot, b[pos + 4:pos + 4 + n]))
            pos += 4 + n
        if len(pairs) != k:
            raise HarnessError("fuzz_child.py answer garbled: commit of %d stages holds %d" % (k, len(pairs)))
        commits.append(pairs)
    return commits, error, counters, protocol


# -- judging --------------------------------------------------------------------------


def judge(case, result, oracle, intact=()):
    """Counter of findings for one answered case (empty: fine), and a text.

    intact: the '/' .. '!' bytes of the telegrams the generator made intact, to say
    whether a wrong commit's telegram is CRC-valid only by a CRC16 collision."""
    if isinstance(result, HarnessError):
        return Counter(hangs=1) if result.hung else Counter(deaths=1), str(result)
    commits, error, counters, protocol = result
    found, text = Counter(), []
    if error is not None:
        found["exceptions"] += 1
        text.append("exception escaped P1Reader.feed:\n" + error)
    if protocol:
        found["protocol"] += 1
        text.append("sink protocol violated: %s" % protocol)
    published = [dict(pairs) for pairs in commits]  # last staged per slot wins, as Snapshot publishes
    twice = [n + 1 for n, (pairs, got) in enumerate(zip(commits, published)) if len(got) != len(pairs)]
    if twice:
        # The reader stages a repeated line again and the last one is published,
        # as dsmr-parser reads it (bench/README.md): a figure, not a failure.
        found["staged_twice"] += 1
        text.append("commit(s) %s staged a slot twice" % twice)
    # Commits are judged even when the reader also raised: one figure must not hide the other.
    bad = oracle.first_bad(case.stream, published)
    if bad is not None:
        found["bad_commits"] += 1
        problem, _, _ = prop.judge(case, ([list(d.items()) for d in published], None, counters, []),
                                   oracle.contract)
        text.append(problem or "ORACLE DISAGREEMENT: the lazy judge found a bad commit, "
                    "test_reader_properties.judge finds none (a bug in bench/fuzz_reader.py)")
        # Only telegrams after the one the previous commit matched: an earlier,
        # intact one may be closer but cannot be where this commit came from.
        source = closest_valid(case.stream, published[bad[0]], oracle, bad[1])
        if source is not None and source not in intact:
            found["bad_commits_collision"] += 1
            text.append("that closest CRC-valid telegram is not one the generator made intact: damage met "
                        "a CRC16 collision, and the reader and the oracle read its damaged lines differently")
    return found, "\n".join(text)


def closest_valid(stream, commit, oracle, floor=0):
    """'/' .. '!' bytes of the CRC-valid telegram starting after offset floor whose
    values differ least from the commit, or None."""
    best = None
    for start, bang, lf, field in oracle.candidates(stream):
        if start < floor:
            continue
        values = oracle._values_if_valid(stream, start, bang, lf, field)
        if values is not None:
            diff = len(set(commit.items()) ^ set(values.items()))
            if best is None or diff < best[0]:
                best = (diff, stream[start:bang + 1])
    return None if best is None else best[1]


# -- workers --------------------------------------------------------------------------


def firmware_env(tmp, portable, reader=None):
    """MICROPYPATH with the reader's modules precompiled as they go onto the board;
    reader: the source of a module the child imports as p1reader instead."""
    mpy = tmp / "mpy"
    precompile(mpy, ["p1reader.py", "p1reader_portable.py"], arch=board_model().arch)
    dirs = [str(mpy), ".frozen"]  # ahead of .frozen: a frozen-bridge image still runs these
    if portable:  # the child imports p1reader: make that name the bytecode fallback
        reader = "from p1reader_portable import P1Reader\n"
    if reader is not None:
        shim = tmp / "shim"
        shim.mkdir()
        (shim / "p1reader.py").write_text(reader)
        dirs.insert(0, str(shim))
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(dirs)
    return env


def blocks(first, count, worker, jobs):
    """This worker's cases: every jobs-th block of BLOCK from first."""
    start = first + worker * BLOCK
    end = first + count
    while start < end:
        yield range(start, min(start + BLOCK, end))
        start += jobs * BLOCK


def worker(w, jobs, args, seed, cmd, env, tmp, out, dumps):
    """Run this worker's cases; put ("done", n, Counter), ("finding", text, None) and
    at the end ("exit", w, None) on out."""
    crc16 = fast_crc16()
    p1.crc16 = crc16  # replace_value's CRC, for the variants
    cases = Cases(seed)
    oracle = Oracle(contract_from_table(), crc16)
    child = Child(cmd, env, tmp)
    tally, done = Counter(), 0

    def handle(index, case, result):
        nonlocal done
        found, text = judge(case, result, oracle, cases.intact)
        if found:
            tally.update(found)
            tally["findings"] += 1
            out.put(("finding", finding_text(seed, index, case, found, text, dumps, args.portable), None))
        if not isinstance(result, HarnessError):
            commits, _, counters, _ = result
            tally["commits"] += len(commits)
            tally["rejected"] += counters["crc_errors"] + counters["truncated"] + counters["framing"]
        done += 1

    last = time.monotonic()
    for block in blocks(args.first, args.cases, w, jobs):
        child.send([(i, cases.case(i)) for i in block])
        while len(child.inflight) > INFLIGHT - BLOCK:
            handle(*child.answer())
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            out.put(("done", done, tally))
            done, tally = 0, Counter()
    while child.inflight:
        handle(*child.answer())
    child.close()
    out.put(("done", done, tally))
    out.put(("exit", w, None))


def finding_text(seed, index, case, found, text, dumps, portable):
    with dumps.get_lock():
        n = dumps.value
        dumps.value += 1
    path = None
    if n < MAX_DUMPS:
        path = Path(tempfile.gettempdir()) / ("fuzz_reader-seed%d-case%d.p1" % (seed, index))
        path.write_bytes(case.stream)
    return ("FINDING seed %d case %d (%s): %d-byte stream in %s, chunks %r, made of: %s\n"
            "replay: .venv/bin/python bench/fuzz_reader.py --seed %d --first %d --cases 1%s\n%s"
            % (seed, index, ", ".join(sorted(found)), len(case.stream), path or "(not written: too many)",
               case.chunks, case.recipe, seed, index, " --portable" if portable else "", text))


def self_check(cmd, env, tmp, crc16):
    """Clean captures must come out exactly as the oracle reads them: else the slot
    numbering of the firmware and of obis.TABLE disagree (or the reader is broken),
    and every figure of the campaign would be noise."""
    oracle = Oracle(contract_from_table(), crc16)
    child = Child(cmd, env, tmp)
    stream = b"\xff\r\n" + prop.SX + prop.SAG + prop.SX
    child.send([(0, Case(stream, [128], "the captures"))])
    _, case, result = child.answer()
    child.close()
    if isinstance(result, HarnessError):
        sys.exit("self-check: %s" % result)
    commits, error, _, _ = result
    published = [dict(pairs) for pairs in commits]
    if error or len(published) != 3 or oracle.first_bad(stream, published) is not None:
        sys.exit("self-check failed: the reader's commits of the clean captures are not the oracle's "
                 "(slots numbered otherwise than obis.TABLE's order?):\nexception: %s\n%s"
                 % (error, prop.judge(case, ([list(d.items()) for d in published], None, {}, []),
                                      oracle.contract)[0]))


def main():
    global HANG_S
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--first", type=int, default=0, help="index of the first case (replay one with --cases 1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes, each with its own MicroPython child (default: one per core)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--portable", action="store_true", help="fuzz p1reader_portable instead of p1reader")
    which.add_argument("--reader", type=Path, metavar="FILE",
                    help="a module source the child imports as p1reader instead (to test the campaign itself)")
    ap.add_argument("--hang-s", type=float, default=HANG_S,
                    help="seconds without an answer before a child counts as hung and is killed (default %(default)s)")
    args = ap.parse_args()
    HANG_S = args.hang_s  # read by each Child's watchdog, in the forked workers too
    seed = random.randrange(2**32) if args.seed is None else args.seed
    jobs = max(1, min(args.jobs, -(-args.cases // BLOCK)))
    model = board_model()
    print("seed %d, cases %d from %d, reader %s, %d worker(s), interpreter %s (%s)" % (
        seed, args.cases, args.first, "p1reader_portable" if args.portable else "p1reader", jobs,
        model.interpreter, model.name), flush=True)

    crc16 = fast_crc16()
    totals = Counter()
    ctx = multiprocessing.get_context("fork")  # workers inherit the imported oracle
    with tempfile.TemporaryDirectory(prefix="fuzz_reader-") as tmp:
        tmp = Path(tmp)
        env = firmware_env(tmp, args.portable, args.reader.read_text() if args.reader else None)
        cmd = [model.interpreter, "-X", "heapsize=256k", str(CHILD)]
        self_check(cmd, env, tmp, crc16)
        out, dumps = ctx.Queue(), ctx.Value("i", 0)
        t0 = last = time.monotonic()
        procs = [ctx.Process(target=worker, args=(w, jobs, args, seed, cmd, env, tmp, out, dumps), daemon=True)
                 for w in range(jobs)]
        for p in procs:
            p.start()
        running = set(range(jobs))
        while running:
            try:
                kind, a, b = out.get(timeout=1)
            except queue.Empty:
                dead = [w for w in running if not procs[w].is_alive()]
                if dead:
                    sys.exit("worker(s) %s died (exit %s)" % (dead, [procs[w].exitcode for w in dead]))
                continue
            if kind == "finding":
                print(a, flush=True)
            elif kind == "done":
                totals["cases"] += a
                totals.update(b)
            else:
                running.discard(a)
            now = time.monotonic()
            if now - last >= PROGRESS_S and running:
                last = now
                print("progress: %d cases, %.1f cases/s, %d findings"
                      % (totals["cases"], totals["cases"] / (now - t0), totals["findings"]), flush=True)
        wall = time.monotonic() - t0
        for p in procs:
            p.join()

    print("cases run: %d" % totals["cases"])
    print("cases per second: %.1f" % (totals["cases"] / wall))
    print("wall time: %.1f s" % wall)
    # A damaged telegram whose CRC16 still matches (about 1 in 65,536 of the
    # rejected ones) is CRC-valid: committing it is right, only the reader's and
    # the oracle's readings of its damaged lines may differ. Every other
    # disagreement is a value committed outside a CRC-valid telegram, or misread.
    wrong = totals["bad_commits"] - totals["bad_commits_collision"]
    print("values committed outside a CRC-valid telegram, or misread from an intact one: %d (cases; must be 0)"
          % wrong)
    print("damaged telegrams CRC-valid by a CRC16 collision, read differently by reader and oracle: %d (cases)"
          % totals["bad_commits_collision"])
    print("reader exceptions: %d" % totals["exceptions"])
    print("sink-protocol violations: %d" % totals["protocol"])
    print("commits staging a slot twice (values judged as published, last wins): %d" % totals["staged_twice"])
    print("child deaths (child restarted): %d" % totals["deaths"])
    print("child hangs, no answer for %g s (child killed and restarted): %d" % (HANG_S, totals["hangs"]))
    # Not vacuous: the reader committed telegrams and rejected damaged ones.
    print("telegrams committed: %d; telegrams rejected (crc_errors + truncated + framing): %d"
          % (totals["commits"], totals["rejected"]))
    failed = [what % n for what, n in (
        ("%d case(s) with values committed outside a CRC-valid telegram, or misread", wrong),
        ("%d case(s) with an exception out of the reader", totals["exceptions"]),
        ("%d case(s) where the reader broke the sink protocol", totals["protocol"]),
        ("%d case(s) where the child died", totals["deaths"]),
        ("%d case(s) where the child hung", totals["hangs"]),
        ("%d case(s) missing", args.cases - totals["cases"])) if n]
    print("FAILED: " + "; ".join(failed) if failed else "PASSED: %d cases" % totals["cases"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
