"""bench/fuzz_reader.py's own machinery: its fast judge gives test_reader_properties'
verdicts, its cases replay alone, and the campaign does catch a reader that
publishes a damaged telegram, a reader that dies and one that hangs.

The campaign itself (a million cases) is not a test; this checks that a 0 it
prints means something, in a few seconds."""

import importlib.util
import random
import subprocess
import sys

import pytest

import test_reader_properties as prop
from conftest import ROOT, micropython_path

_spec = importlib.util.spec_from_file_location("fuzz_reader", ROOT / "bench" / "fuzz_reader.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


@pytest.fixture(scope="module")
def crc16():
    return fuzz.fast_crc16()


@pytest.fixture(scope="module")
def oracle(crc16):
    return fuzz.Oracle(fuzz.contract_from_table(), crc16)


def test_fast_crc_is_hil_p1s(crc16):
    rnd = random.Random(3)
    for n in (0, 1, 2, 3, 255, 2405):
        data = rnd.randbytes(n)
        assert crc16(data) == prop.p1.crc16(data)


def test_a_case_is_a_function_of_seed_and_index_alone():
    a = fuzz.Cases(11)
    first = [a.case(i) for i in (5, 900, 77)]
    b = fuzz.Cases(11)
    again = [b.case(i) for i in (77, 900, 5)][::-1]
    assert [(c.stream, c.chunks) for c in first] == [(c.stream, c.chunks) for c in again]
    assert fuzz.Cases(12).case(5).stream != first[0].stream


def _any_frame_values(stream, contract):
    """Values of every '/' .. '!' region, CRC or not: commits a broken reader could make."""
    out = []
    for start, _, lf, _ in fuzz.Oracle.candidates(stream):
        try:
            out.append(prop.expected_values(stream[start:lf + 1] + b"!", contract))
        except prop.p1.P1Error:
            pass
    return out


def test_the_lazy_judge_gives_the_tests_verdicts(oracle):
    contract = oracle.contract
    cases = fuzz.Cases(2024)
    rnd = random.Random(1)
    verdicts = {True: 0, False: 0}
    for i in range(400):
        case = cases.case(i)
        valid = [v for _, v in prop.crc_valid_telegrams(case.stream, contract)]
        pool = valid + _any_frame_values(case.stream, contract) + [{}]
        for _ in range(4):
            # In-order subsets of the valid telegrams (right), some with a foreign
            # or repeated commit slipped in (wrong unless it happens to be valid there).
            commits = [v for v in valid if rnd.randrange(2)]
            if rnd.randrange(2):
                commits.insert(rnd.randint(0, len(commits)), rnd.choice(pool))
            if len(commits) > 1 and rnd.randrange(4) == 0:
                rnd.shuffle(commits)
            want = prop.judge(case, ([list(c.items()) for c in commits], None, {}, []), contract)[0] is None
            assert (oracle.first_bad(case.stream, commits) is None) == want, (i, case)
            verdicts[want] += 1
    assert verdicts[True] > 200 and verdicts[False] > 200, verdicts  # both verdicts were exercised


# -- against the real child ------------------------------------------------------------

LEAKY = '''
# A broken reader for the test: a telegram aborted for any reason (CRC error,
# truncation, framing) is committed anyway.
from p1reader_portable import P1Reader as _Real


class _Leaky:
    def __init__(self, sink):
        self.s = sink
        self.n = 0

    def begin(self):
        self.n = 0
        self.s.begin()

    def stage(self, slot, buf, n):
        self.n += 1
        self.s.stage(slot, buf, n)

    def commit(self):
        self.n = 0
        return self.s.commit()

    def abort(self):
        if self.n:
            self.n = 0
            self.s.commit()
        else:
            self.s.abort()


def P1Reader(sink, *args, **kw):
    return _Real(_Leaky(sink), *args, **kw)
'''

FRAGILE = '''
# A reader that dies on b"DIE" and hangs on b"HANG" (for the restart logic).
import sys
from p1reader_portable import P1Reader as _Real


class P1Reader(_Real):
    def feed(self, buf, n=-1):
        b = bytes(buf[:n])
        if b"DIE" in b:
            sys.exit(3)
        while b"HANG" in b:
            pass
        _Real.feed(self, buf, n)
'''


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    return tmp, fuzz.firmware_env(tmp, False)


def _child(firmware, shim=None):
    tmp, env = firmware
    env = dict(env)
    if shim is not None:
        d = tmp / ("shim%d" % abs(hash(shim)))
        d.mkdir(exist_ok=True)
        (d / "p1reader.py").write_text(shim)
        env["MICROPYPATH"] = str(d) + ":" + env["MICROPYPATH"]
    return fuzz.Child([micropython_path(), "-X", "heapsize=256k", str(fuzz.CHILD)], env, tmp)


def _run(child, oracle, cases, intact=()):
    total = fuzz.Counter()
    child.send(cases)
    while child.inflight:
        index, case, result = child.answer()
        found, _ = fuzz.judge(case, result, oracle, intact)
        total.update(found)
    child.close()
    return total


def test_the_campaign_finds_nothing_in_the_reader_and_catches_a_leaky_one(firmware, oracle, crc16, monkeypatch):
    monkeypatch.setattr(prop.p1, "crc16", crc16)  # as the workers do: the test's judge CRCs with it
    cases = fuzz.Cases(99)
    batch = [(i, cases.case(i)) for i in range(300)]
    assert _run(_child(firmware), oracle, batch, cases.intact) == fuzz.Counter()
    leaky = _run(_child(firmware, LEAKY), oracle, batch, cases.intact)
    assert leaky["bad_commits"] > 20, leaky
    # Its wrong commits come from telegrams that failed their CRC, not from CRC16 collisions.
    assert leaky["bad_commits_collision"] <= leaky["bad_commits"] // 10, leaky
    assert not leaky["exceptions"] and not leaky["deaths"]


def test_a_child_that_dies_or_hangs_names_the_case_and_the_rest_still_run(firmware, oracle, monkeypatch):
    monkeypatch.setattr(fuzz, "HANG_S", 2)
    good = prop.SX
    batch = [(0, fuzz.Case(good, [128], "")), (1, fuzz.Case(b"DIE" + good, [128], "")),
             (2, fuzz.Case(good, [64], "")), (3, fuzz.Case(b"HANG", [128], "")), (4, fuzz.Case(good, [7], ""))]
    child = _child(firmware, FRAGILE)
    child.send(batch)
    got = {}
    while child.inflight:
        index, case, result = child.answer()
        got[index] = fuzz.judge(case, result, oracle)[0]
    child.close()
    assert got == {0: fuzz.Counter(), 1: fuzz.Counter(deaths=1), 2: fuzz.Counter(),
                   3: fuzz.Counter(hangs=1), 4: fuzz.Counter()}
    assert child.restarts == 2


def test_seed7_case728428_a_crc16_collision_with_repeated_lines_is_published_as_the_oracle_reads_it(
        firmware, oracle, crc16, monkeypatch):
    # The campaign's finding on 17e7aa0: a damaged SX631 telegram, a Sagemcom one, then
    # a splice of SX631 head and Sagemcom tail whose CRC16 matches by chance, so 35
    # OBIS codes come twice in a CRC-valid telegram. The reader publishes each one's
    # last line, as dsmr-parser reads it; the judge used to keep the first.
    monkeypatch.setattr(prop.p1, "crc16", crc16)
    cases = fuzz.Cases(7)
    case = cases.case(728428)
    assert len(case.stream) == 7100
    valid = prop.crc_valid_telegrams(case.stream, oracle.contract)
    assert [offset for offset, _ in valid] == [2580, 4011]
    assert case.stream[4011:7093 + 1] not in cases.intact  # the collision
    assert _run(_child(firmware), oracle, [(728428, case)], cases.intact) == fuzz.Counter(staged_twice=1)


def test_a_wrong_commit_is_a_collision_only_if_a_collision_follows_the_previous_commits_telegram(oracle):
    # Commit 2 matches nothing. Before it in the stream is the intact telegram commit
    # 1 came from (the closest in values), after it only a CRC-valid telegram the
    # generator never made (damage that met a CRC16 collision): that one is where
    # commit 2 can have come from, so the finding is a collision, not a must-be-0.
    sx = prop.SX
    forged = prop.p1.replace_value(prop.p1.replace_value(sx, "1-0:1.8.0", "1.5"), "1-0:2.8.0", "2.5")
    stream = sx + forged
    first = fuzz.Oracle.candidates(stream)
    values = [oracle._values_if_valid(stream, *c) for c in first]
    assert values[0] != values[1] and None not in values
    near_first = dict(values[0])
    near_first[next(iter(near_first))] = b"9"  # one value off the intact one
    commits = [list(values[0].items()), list(near_first.items())]
    found, _ = fuzz.judge(fuzz.Case(stream, [128], ""), (commits, None, {}, []), oracle, {sx[:sx.rindex(b"!") + 1]})
    assert found == fuzz.Counter(bad_commits=1, bad_commits_collision=1)


# -- the campaign's verdict: a broken child fails the run ----------------------------

# A reader that misbehaves from the second case of each child on (the first child
# instance is counters() at the child's start, the second its first case), so the
# self-check (one case) passes and the campaign meets it.
BREAKS = '''
import sys
from p1reader_portable import P1Reader as _Real

_made = [0]


def P1Reader(sink, *args, **kw):
    _made[0] += 1
    if _made[0] == 3:
        if MODE == "die":
            sys.exit(3)
        if MODE == "hang":
            while True:
                pass
        if MODE == "protocol":
            sink.commit()  # before any begin()
    return _Real(sink, *args, **kw)
'''


@pytest.mark.parametrize("mode,verdict", [
    ("none", "PASSED: 3 cases"),
    ("die", "FAILED: 1 case(s) where the child died"),
    ("hang", "FAILED: 1 case(s) where the child hung"),
    ("protocol", "FAILED: 1 case(s) where the reader broke the sink protocol"),
])
def test_a_child_that_dies_hangs_or_breaks_the_sink_protocol_fails_the_campaign(tmp_path, mode, verdict):
    reader = tmp_path / "breaks.py"
    reader.write_text("MODE = %r\n" % mode + BREAKS)
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz_reader.py"), "--seed", "5", "--cases", "3",
                        "--jobs", "1", "--reader", str(reader), "--hang-s", "2"],
                       capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    lines = r.stdout.strip().splitlines()
    assert lines and lines[-1] == verdict, r.stdout + r.stderr
    assert r.returncode == (0 if mode == "none" else 1), r.stdout + r.stderr
