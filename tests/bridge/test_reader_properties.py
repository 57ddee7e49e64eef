"""Property: damaged P1 streams never make the bridge's reader publish a wrong value.

Claim under test: corrupting, truncating or splicing telegrams never makes
``P1Reader`` commit a value that is not in a CRC-valid telegram of its input, and
nothing raises out of ``P1Reader.feed``.

Hypothesis builds byte streams in CPython from the two reference captures (and
variants with values rewritten and the CRC recomputed by ``hil.p1.framing.replace_value``):
flipped and replaced bytes, truncations, splices of one telegram's head onto
another's tail, garbage / 0xFF runs / stray ``/`` and ``!`` between and inside
telegrams, deletions, duplications. One persistent MicroPython unix-port process
(``mpy/prop_harness.py``) feeds each stream to a fresh ``P1Reader`` in the chunk
sizes the test chose and sends back what the reader committed.

The oracle never uses the firmware's parsing: CRC-valid telegrams are found here
with ``hil.p1.framing.crc16`` and their values read with ``hil.p1.framing.cosem_values``. The
firmware's ``obis`` table is used only to name slots.
"""

import ast
import re
import struct
import subprocess
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import CAPTURES, FIRMWARE, MPY_SCRIPTS, ROOT, micropython_path, mpy_env
from hil.p1 import framing as p1

CASES = 2000

SX = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAG = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()
BASES = (SX, SAG)


class HarnessError(RuntimeError):
    """The MicroPython harness died or broke its protocol; carries its stderr."""


# -- the MicroPython side ---------------------------------------------------------


class Harness:
    """Length-prefixed request/response over the harness's stdin/stdout.

    env: the child's environment (default mpy_env(): firmware sources); send() and
    result() apart let bench/fuzz_reader.py keep one case in flight."""

    def __init__(self, tmp_dir, env=None):
        self._err_path = tmp_dir / "prop_harness.stderr"
        self._err = open(self._err_path, "wb")
        self._proc = subprocess.Popen(
            [micropython_path(), "-X", "heapsize=256k", str(MPY_SCRIPTS / "prop_harness.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, env=env or mpy_env(), cwd=str(ROOT))
        self.contract = Contract(*ast.literal_eval(self._recv()))

    def _recv(self):
        head = self._proc.stdout.read(4)
        if len(head) < 4:
            raise HarnessError(self._died())
        body = self._proc.stdout.read(int.from_bytes(head, "big"))
        return body.decode()

    def _died(self):
        try:
            rc = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = "still running"
        return "prop_harness.py stopped answering (exit %s); stderr in %s:\n%s" % (
            rc, self._err_path, self._err_path.read_text(errors="replace")[-2000:])

    def run(self, chunks, stream):
        """(commits, error text or None, counters, sink protocol violations)."""
        self.send(chunks, stream)
        return self.result()

    def send(self, chunks, stream):
        msg = struct.pack(">H%dH" % len(chunks), len(chunks), *chunks) + stream
        try:
            self._proc.stdin.write(len(msg).to_bytes(4, "big") + msg)
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise HarnessError(self._died()) from None

    def result(self):
        """run()'s answer for the oldest case sent and not yet answered."""
        return ast.literal_eval(self._recv())

    def close(self):
        try:
            self._proc.stdin.write(b"\0\0\0\0")
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._err.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("prop"))
    yield h
    h.close()


# -- naming slots (the only thing taken from the firmware) ---------------------------


class Contract:
    """What the firmware maps: slot -> name and kind, OBIS (A, B, C, D, E) -> slot.

    Read with ast from the literal TABLE in bridge_firmware/obis.py (rows
    (OBIS text, name, kind); slot = order of a name's first appearance, as obis.py
    documents) when it agrees with the running firmware's obis.NAMES; otherwise
    from the firmware's obis.SLOT / obis.KIND, unpacking keys as obis.key() packs
    them. A table without kinds (the 0.1 layout) maps numbers only.
    """

    def __init__(self, names, slot_keys, kind_codes, kind_names):
        self.names = list(names)
        self.text_max = _int_const("TEXT_MAX", 48)
        self.profile_max = _int_const("PROFILE_MAX", 320)
        rows = _table_from_source()
        if rows is not None:
            order = list(dict.fromkeys(name for _, name, _ in rows))
            if order == self.names:
                self.slots = {code: order.index(name) for code, name, _ in rows}
                self.kinds = [None] * len(order)
                for _, name, kind in rows:
                    self.kinds[order.index(name)] = kind
                return
        self.slots = {(k >> 26, (k >> 24) & 3, (k >> 16) & 255, (k >> 8) & 255, k & 255): s
                      for k, s in slot_keys}
        if kind_codes is None:
            self.kinds = ["number"] * len(self.names)
        else:
            self.kinds = [kind_names[k] for k in kind_codes]

    def render(self, slot, groups):
        """The payload the bridge documents for this slot's line, or None."""
        kind = self.kinds[slot]
        first = groups[0].split(b"*", 1)[0]
        if kind == "number":
            return normalise(first)
        if kind == "text":
            ok = len(first) <= self.text_max and all(0x20 <= c < 0x7F for c in first)
            return first if ok else None
        if kind == "breaker":
            return {b"ON": b"ON", b"OFF": b"OFF", b"1": b"ON", b"0": b"OFF", b"2": b"READY"}.get(first)
        if kind == "profile":
            values = [normalise(g.split(b"*", 1)[0]) for g in groups[1:]]
            if None in values or not all(0x20 <= c < 0x7F and c not in b'"\\' for c in first):
                return None
            out = b'{"timestamp":"%s","values":[%s]}' % (first, b",".join(values))
            return out if len(out) <= self.profile_max else None
        raise AssertionError("obis.py has a kind this test does not know: %r" % kind)


def _obis_tree():
    return ast.parse((FIRMWARE / "obis.py").read_text())


def _int_const(name, default):
    """An int constant NAME = const(n) or NAME = n from obis.py, else default."""
    for node in _obis_tree().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            v = node.value
            if isinstance(v, ast.Call) and v.args:
                v = v.args[0]
            try:
                return int(ast.literal_eval(v))
            except (ValueError, TypeError):
                return default
    return default


def _code(c):
    return tuple(int(f) for f in re.split(r"[-:.]", c)) if isinstance(c, str) else tuple(c)


def _table_from_source():
    """[((A, B, C, D, E), name bytes, kind)] from a literal TABLE/_TABLE, else None."""
    for node in _obis_tree().body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in ("TABLE", "_TABLE") for t in node.targets):
            try:
                rows = ast.literal_eval(node.value)
                return [(_code(r[0]), r[1].encode() if isinstance(r[1], str) else bytes(r[1]),
                         r[2] if len(r) > 2 else "number") for r in rows]
            except (ValueError, TypeError, IndexError):
                return None
    return None


# -- the oracle ---------------------------------------------------------------------

_BANG_LINE = re.compile(rb"\n\r*!")  # the reader also skips CRs at a line start
_CRC_FIELD = re.compile(rb"[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f])")
_NUMBER = re.compile(rb"(-?)([0-9]+)(\.[0-9]+)?")
_crc_cache = {}


def _crc(body):
    c = _crc_cache.get(body)
    if c is None:
        if len(_crc_cache) > 4096:
            _crc_cache.clear()
        c = _crc_cache[body] = p1.crc16(body)
    return c


def normalise(text):
    """The bridge's documented number payload: unit dropped (by the caller), leading
    zeros stripped keeping one digit before the point; None if not a number."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        return None
    sign, whole, frac = m.groups()
    return sign + (whole.lstrip(b"0") or b"0") + (frac or b"")


def expected_values(body, contract):
    """{slot: published value} for one telegram body ('/' .. '!').

    A slot's value is its last line's that is valid for its kind: a meter's
    repeated line is read as dsmr-parser reads it (the last wins), and a line the
    bridge cannot publish leaves the earlier one, as dsmr-parser skips a line it
    cannot parse (bridge_firmware/README.md, "A line sent twice")."""
    out = {}
    for code, groups in p1.cosem_lines(body):
        slot = contract.slots.get(_code(code))
        if slot is not None and groups:
            v = contract.render(slot, groups)
            if v is not None:
                out[slot] = v
    return out


def crc_valid_telegrams(stream, contract):
    """[(offset, {slot: value})] of every complete telegram in the stream whose CRC
    field matches CRC16/ARC of its bytes from '/' through '!'.

    A telegram runs from the last '/' before a line-initial '!' (a '/' only ever
    starts a frame) and contains no earlier line-initial '!'. The CRC field is
    accepted in the forms the reader documents (1-4 hex digits, either case): that
    only widens what counts as valid, so it cannot hide a wrong commit whose bytes
    no CRC protected.
    """
    out = []
    floor = 0
    for m in _BANG_LINE.finditer(stream):
        bang = m.end() - 1
        start = stream.rfind(b"/", floor, bang)
        floor = bang
        if start < 0:
            continue
        field = _CRC_FIELD.match(stream, bang + 1)
        if field is None or int(field.group(), 16) != _crc(stream[start:bang + 1]):
            continue
        body = stream[start:m.start() + 1] + b"!"  # CRs before '!' dropped for cosem_values
        out.append((start, expected_values(body, contract)))
    return out


# -- stream strategies --------------------------------------------------------------

_NUMERIC_LINE = re.compile(rb"^(\d+-\d+:\d+\.\d+\.\d+)\([0-9.]+", re.M)
_NOT_NUMBERS = {code for code, _, kind in (_table_from_source() or ()) if kind != "number"}
# Lines whose first value may be rewritten with any number: numbers and unmapped codes.
REWRITABLE = [sorted(c.decode() for c in {m.group(1) for m in _NUMERIC_LINE.finditer(b)}
                     if _code(c.decode()) not in _NOT_NUMBERS) for b in BASES]

NUMBER_TEXT = st.from_regex(rb"-?0{0,3}[0-9]{1,7}(\.[0-9]{1,4})?", fullmatch=True)
SPECIAL = b"/!()*-.:\r\n0123456789ABCDEF\xff"
NOISE = st.one_of(
    st.binary(min_size=1, max_size=48),
    st.integers(1, 1100).map(lambda n: b"\xff" * n),
    st.sampled_from([
        b"/", b"!", b"\r\n", b"\r\n!", b"\r\n/", b"\n!5C2E\r\n", b"\r\n!99DA\r\n", b"!0000\r\n",
        b"/AUX59903218166\r\n\r\n", b"/SAG5SAG-METER\r\n\r\n", b"1-0:1.8.0(999999.999*kWh)\r\n",
        b"\r\n1-0:32.7.0(1.0*V)\r\n", b"0-0:96.13.0(" + b"\xff" * 64, b"\r\n\r\n",
    ]),
)
MUTATIONS = ("flip", "replace", "digit", "truncate", "drop_head", "delete", "insert", "duplicate")


@st.composite
def telegrams(draw):
    """A capture, or a variant with 1..3 mapped values rewritten and a fresh CRC."""
    i = draw(st.sampled_from((0, 1)))
    t = BASES[i]
    for _ in range(draw(st.integers(0, 3))):
        t = p1.replace_value(t, draw(st.sampled_from(REWRITABLE[i])), draw(NUMBER_TEXT))
    return t


def mutate(draw, data):
    """One random damage to data (bytearray, changed in place); returns its name."""
    kind = draw(st.sampled_from(MUTATIONS))
    if not data:
        data[:] = draw(NOISE)
        return "insert"
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        data[i] ^= draw(st.integers(1, 255))
    elif kind == "replace":
        data[i] = draw(st.one_of(st.sampled_from(SPECIAL), st.integers(0, 255)))
    elif kind == "digit":  # a digit for another digit: only the CRC can tell
        digits = [m.start() for m in re.finditer(rb"[0-9]", data)]
        if digits:
            j = draw(st.sampled_from(digits))
            data[j] = 0x30 + (data[j] - 0x30 + draw(st.integers(1, 9))) % 10
    elif kind == "truncate":
        del data[i:]
    elif kind == "drop_head":
        del data[:i]
    elif kind == "delete":
        del data[i:i + draw(st.integers(1, 64))]
    elif kind == "insert":
        data[i:i] = draw(NOISE)
    elif kind == "duplicate":
        piece = data[i:i + draw(st.integers(1, 400))]
        k = draw(st.integers(0, len(data)))
        data[k:k] = piece
    return kind


@st.composite
def segments(draw):
    kind = draw(st.sampled_from(("clean", "damaged", "damaged", "splice", "aligned_splice", "noise")))
    event("segment: " + kind)
    if kind == "noise":
        return draw(NOISE)
    a = draw(telegrams())
    if kind == "clean":
        return a
    if kind == "damaged":
        data = bytearray(a)
        for _ in range(draw(st.integers(1, 3))):
            event("mutation: " + mutate(draw, data))
        return bytes(data)
    b = draw(telegrams())
    if kind == "aligned_splice":
        # Same meter, values differ: head of one, tail of the other at the same
        # offset looks perfect except for the CRC (if it comes from b).
        b = draw(telegrams().filter(lambda t: t[:6] == a[:6])) if a[:6] != b[:6] else b
        cut = draw(st.integers(0, min(len(a), len(b))))
        return a[:cut] + b[cut:]
    return a[:draw(st.integers(0, len(a)))] + b[draw(st.integers(0, len(b))):]


@st.composite
def streams(draw):
    data = bytearray(b"".join(draw(st.lists(segments(), min_size=1, max_size=5))))
    for _ in range(draw(st.integers(0, 2))):
        event("stream mutation: " + mutate(draw, data))
    chunks = draw(st.lists(st.integers(1, 512), min_size=1, max_size=8))
    return Case(bytes(data), chunks)


class Case:
    """A stream and its chunk sizes; a short repr (failing streams go to a file)."""

    def __init__(self, stream, chunks):
        self.stream = stream
        self.chunks = chunks

    def __repr__(self):
        s = self.stream
        return "Case(%d bytes %r...%r, chunks=%r)" % (len(s), s[:40], s[-24:], self.chunks)


# -- the property -------------------------------------------------------------------


def _describe(commit, valid, names):
    """Shortest readable difference between a commit and the closest valid telegram."""
    if not valid:
        return "no CRC-valid telegram in the stream at all"
    best = min(valid, key=lambda v: len(set(commit.items()) ^ set(v[1].items())))
    diff = sorted(set(commit) | set(best[1]))
    lines = ["closest CRC-valid telegram at offset %d differs in:" % best[0]]
    for s in diff:
        if commit.get(s) != best[1].get(s):
            name = names[s].decode() if 0 <= s < len(names) else "slot %d" % s
            lines.append("  %s: committed %r, telegram has %r" % (name, commit.get(s), best[1].get(s)))
    return "\n".join(lines)


def check(case, harness):
    """None if the reader behaved on this stream, else what went wrong."""
    return judge(case, harness.run(case.chunks, case.stream), harness.contract)


def judge(case, result, contract):
    """check() on a harness result already in hand."""
    commits, error, counters, protocol = result
    if error is not None:
        return "exception escaped P1Reader.feed:\n" + error, None, None
    if protocol:
        return "sink protocol violated: %s" % protocol, None, None
    valid = crc_valid_telegrams(case.stream, contract)
    j = 0
    for n, pairs in enumerate(commits):
        got = dict(pairs)  # a slot staged twice publishes its last value, as Snapshot does
        while j < len(valid) and valid[j][1] != got:
            j += 1
        if j == len(valid):
            return ("commit %d of %d publishes values of no CRC-valid telegram (in stream order); "
                    "%d valid telegrams; counters %s\n%s" % (
                        n + 1, len(commits), len(valid), counters, _describe(got, valid, contract.names)),
                    None, None)
        j += 1
    return None, (commits, counters), valid


def test_reader_commits_only_crc_valid_telegrams(harness, tmp_path):
    contract = harness.contract
    assert contract.names and set(contract.slots.values()) == set(range(len(contract.names)))
    stats = Counter()

    @settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(streams())
    def prop(case):
        problem, result, valid = check(case, harness)
        if problem:
            dump = tmp_path / "failing_stream.bin"
            dump.write_bytes(case.stream)
            pytest.fail("%s\nstream (%d bytes, chunks %r) in %s" % (problem, len(case.stream), case.chunks, dump))
        commits, counters = result
        stats["cases"] += 1
        stats["with_valid"] += bool(valid)
        stats["with_commit"] += bool(commits)
        stats["with_rejected"] += bool(counters["crc_errors"] or counters["truncated"] or counters["framing"])
        stats["commits"] += len(commits)
        stats["values"] += sum(len(c) for c in commits)
        stats["valid"] += len(valid)
        event("valid telegrams in stream: %s" % min(len(valid), 3))
        event("commits: %s" % min(len(commits), 3))

    prop()
    print("property stats:", dict(stats))
    # Not vacuous: many streams held good telegrams that did get published, and many
    # were damaged in a way the reader noticed.
    assert stats["cases"] >= CASES
    assert stats["with_valid"] >= 0.3 * stats["cases"], stats
    assert stats["with_commit"] >= 0.3 * stats["cases"], stats
    assert stats["with_rejected"] >= 0.3 * stats["cases"], stats
    assert stats["values"] >= 20 * stats["commits"] > 0, stats


# -- the oracle's own checks (it must be right for the property to mean anything) ----


def test_oracle_on_captures(harness):
    c = harness.contract
    for cap, want in ((SX, {b"positive_energy_total": b"812.421", b"instantaneous_current_in_phase_L1": b"1",
                            b"positive_active_instantaneous_power": b"0.250", b"breaker_state": b"ON",
                            b"timestamp": b"230817171430S"}),
                      (SAG, {b"instantaneous_current_in_phase_L1": b"3", b"frequency": b"50.00",
                             b"breaker_state": b"ON"})):
        [(off, vals)] = crc_valid_telegrams(b"\xff\r\n" + cap + cap[:700], c)
        assert off == 3 and len(vals) >= 35
        for name, v in want.items():
            if name in c.names:  # names added after 0.1 only once obis.py maps them
                assert vals[c.names.index(name)] == v, name
        bad = bytearray(cap)
        bad[cap.index(b"1-0:1.8.0(") + 14] ^= 1
        assert crc_valid_telegrams(bytes(bad), c) == []
        assert crc_valid_telegrams(cap[:len(cap) // 2] + cap, c) == [(len(cap) // 2, vals)]
    if "profile" in c.kinds:
        [(_, vals)] = crc_valid_telegrams(SAG, c)
        assert vals[c.kinds.index("profile")].startswith(
            b'{"timestamp":"230701000000S","values":[40.777,8.950,31.827,')


def test_oracle_normalise():
    assert normalise(b"000812.421") == b"812.421"
    assert normalise(b"00.250") == b"0.250"
    assert normalise(b"003") == b"3"
    assert normalise(b"-000.5") == b"-0.5"
    assert normalise(b"000") == b"0"
    assert normalise(b"230817171430S") is None and normalise(b"ON") is None
