"""P1 reader + snapshot on the real MicroPython interpreter, heap locked while feeding.

Expectations are computed here in CPython from the capture bytes with a regex and
an independent bitwise CRC, never with the firmware's own code.
"""

import functools
import json
import re
from decimal import Decimal

import pytest

from conftest import CAPTURES, run_mpy

SX = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAG = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()

# The contract table, written out independently of bridge_firmware/obis.py.
CONTRACT = {"0-0:17.0.0": "power_limiter_limit", "1-0:1.8.0": "positive_energy_total",
            "1-0:2.8.0": "negative_energy_total", "1-0:3.8.0": "positive_reactive_energy_total",
            "1-0:4.8.0": "negative_reactive_energy_total", "1-0:15.8.0": "absolute_active_energy_total",
            "1-0:13.7.0": "instantaneous_power_factor", "1-0:14.7.0": "frequency",
            "1-0:1.7.0": "positive_active_instantaneous_power",
            "1-0:2.7.0": "negative_active_instantaneous_power"}
for t in range(1, 5):
    CONTRACT[f"1-0:1.8.{t}"] = f"positive_energy_tariff_{t}"
    CONTRACT[f"1-0:2.8.{t}"] = f"negative_energy_tariff_{t}"
for q, c in enumerate((5, 6, 7, 8), 1):
    CONTRACT[f"1-0:{c}.8.0"] = f"reactive_energy_total_Q{q}"
    CONTRACT[f"1-0:{c}.7.0"] = f"reactive_power_instantaneous_Q{q}"
for ph, (v, i, pf) in zip((1, 2, 3), ((32, 31, 33), (52, 51, 53), (72, 71, 73))):
    CONTRACT[f"1-0:{v}.7.0"] = f"instantaneous_voltage_in_phase_L{ph}"
    CONTRACT[f"1-0:{i}.7.0"] = f"instantaneous_current_in_phase_L{ph}"
    CONTRACT[f"1-0:{pf}.7.0"] = f"instantaneous_power_factor_in_phase_L{ph}"
assert len(CONTRACT) == 35

# Fields the seed ignored, with their (frozen) names and kinds: written out here
# independently of bridge_firmware/obis.py (test_obis_table checks they agree).
NEW_FIELDS = {
    "0-0:1.0.0": ("timestamp", "text"),
    "0-0:42.0.0": ("logical_device_name", "text"),
    "0-0:96.1.0": ("equipment_identifier", "text"),
    "0-0:96.14.0": ("tariff_indicator", "number"),
    "0-0:96.50.68": ("breaker_state", "breaker"),
    "0-0:96.3.10": ("breaker_state", "breaker"),
    "1-0:31.4.0": ("current_limit_in_phase_L1", "number"),
    "1-0:51.4.0": ("current_limit_in_phase_L2", "number"),
    "1-0:71.4.0": ("current_limit_in_phase_L3", "number"),
    "0-0:98.1.0": ("billing_profile", "profile"),
}
FIELDS = {code: (name, "number") for code, name in CONTRACT.items()} | NEW_FIELDS


def crc_arc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _number(s: str) -> str:
    neg = s.startswith("-")
    body = s[1:] if neg else s
    whole, dot, frac = body.partition(".")
    return ("-" if neg else "") + (whole.lstrip("0") or "0") + dot + frac


def expected(telegram: bytes, contract_only=False) -> dict:
    """name -> payload for every mapped line (only the 35 seed names if contract_only)."""
    out = {}
    for m in re.finditer(rb"^(\d+-\d+:\d+\.\d+\.\d+)((?:\([^)]*\))+)\r?$", telegram, re.M):
        code = m.group(1).decode()
        if code not in FIELDS or (contract_only and code not in CONTRACT):
            continue
        name, kind = FIELDS[code]
        groups = [g.decode("ascii") for g in re.findall(rb"\(([^)]*)\)", m.group(2))]
        if kind == "number":
            out[name] = _number(groups[0].split("*")[0])
        elif kind == "text":
            out[name] = groups[0]
        elif kind == "breaker":
            out[name] = {"0": "OFF", "1": "ON", "2": "READY"}.get(groups[0], groups[0])
        else:  # profile
            nums = ",".join(_number(g.split("*")[0]) for g in groups[1:])
            out[name] = '{"timestamp":"%s","values":[%s]}' % (groups[0], nums)
    return out


def make_telegram(lines, crc_digits=4) -> bytes:
    body = b"/TST5TEST-METER\r\n\r\n" + b"".join(l + b"\r\n" for l in lines) + b"!"
    crc = crc_arc(body)
    return body + (b"%04X" % crc if crc_digits == 4 else b"%X" % crc) + b"\r\n"


def feed(tmp_path, stream: bytes, seed=7, log=False, reader="native") -> dict:
    p = tmp_path / f"stream{seed}.bin"
    p.write_bytes(stream)
    args = [p, seed] + (["log"] if log else []) + (["portable"] if reader == "portable" else [])
    return json.loads(run_mpy("run_reader.py", *args).strip().splitlines()[-1])


def test_crc16_of_captures():
    for cap, want in ((CAPTURES / "sx631_aux_3ph.p1", "5C2E"), (CAPTURES / "sagemcom_eon_hu_3ph.p1", "99DA")):
        whole, resumed = run_mpy("run_crc.py", cap).split()
        assert whole == want and resumed == want  # resumed = crc continued across chunks
        assert cap.read_bytes().rstrip().endswith(b"!" + want.encode())


def test_expected_values_sanity():
    # The brief's examples, to make sure this test's own oracle is right.
    e = expected(SX)
    assert e["positive_energy_total"] == "812.421"
    assert e["negative_energy_total"] == "1714.369"
    assert e["positive_active_instantaneous_power"] == "0.250"
    assert expected(SAG)["instantaneous_current_in_phase_L1"] == "3"
    assert len(expected(SX, True)) == 35 and len(expected(SAG, True)) == 35
    assert len(e) == 44 and len(expected(SAG)) == 44
    assert e["timestamp"] == "230817171430S" and e["tariff_indicator"] == "1"
    assert e["breaker_state"] == "ON" and expected(SAG)["breaker_state"] == "ON"  # 96.50.68(ON) / 96.3.10(1)
    assert e["current_limit_in_phase_L1"] == "200" and expected(SAG)["current_limit_in_phase_L3"] == "200.00"
    assert e["equipment_identifier"] == "9903218166"
    # The profile is valid JSON whose numbers equal the raw values (units dropped).
    for cap in (SX, SAG):
        line = re.search(rb"^0-0:98\.1\.0(.*)\r$", cap, re.M).group(1).decode()
        raw = re.findall(r"\(([^)*]*)", line)
        prof = json.loads(expected(cap)["billing_profile"], parse_float=Decimal, parse_int=Decimal)
        assert prof["timestamp"] == raw[0] and prof["values"] == [Decimal(v) for v in raw[1:]]
        assert len(prof["values"]) == 19


@pytest.mark.parametrize("cap", [SX, SAG], ids=["sx631", "sagemcom"])
@pytest.mark.parametrize("seed", [1, 99, 12345])
def test_capture_in_random_chunks(tmp_path, cap, seed):
    r = feed(tmp_path, cap, seed)
    assert r["values"] == expected(cap)
    assert r["counters"]["telegrams_ok"] == 1
    assert r["counters"]["crc_errors"] == r["counters"]["garbage"] == r["counters"]["truncated"] == 0
    assert r["commits"] == 1


def test_back_to_back_telegrams_supersede_unpublished(tmp_path):
    r = feed(tmp_path, SX + SAG + SX)
    assert r["counters"]["telegrams_ok"] == 3
    assert r["superseded"] == 2  # nobody published in between
    assert r["values"] == expected(SX)


@pytest.mark.parametrize("offset", [40, 600, 1500, 2395])
def test_corrupted_byte_is_crc_error_and_stages_nothing(tmp_path, offset):
    bad = bytearray(SX)
    assert bad[offset] not in b"/!\r\n"
    bad[offset] ^= 0x01
    r = feed(tmp_path, bytes(bad))
    assert r["counters"]["crc_errors"] == 1
    assert r["counters"]["telegrams_ok"] == 0
    assert r["commits"] == 0 and r["values"] == {}


def test_crc_error_then_good_publishes_only_good(tmp_path):
    bad = bytearray(SX)
    bad[SX.index(b"000812.421") + 3] ^= 0x02  # a mapped value: must not leak out
    r = feed(tmp_path, bytes(bad) + SAG)
    assert r["counters"]["crc_errors"] == 1 and r["counters"]["telegrams_ok"] == 1
    assert r["values"] == expected(SAG)


def test_truncated_then_good(tmp_path):
    cut = SX[:SX.index(b"1-0:14.7.0")]  # ends mid-telegram, before the CRC line
    r = feed(tmp_path, cut + SAG)
    assert r["counters"]["truncated"] == 1
    assert r["counters"]["telegrams_ok"] == 1
    assert r["values"] == expected(SAG)  # nothing from the truncated SX631 telegram


def test_truncated_inside_crc_line_then_good(tmp_path):
    r = feed(tmp_path, SX[:SX.index(b"!") + 3] + SAG)
    assert r["counters"]["truncated"] == 1 and r["counters"]["telegrams_ok"] == 1
    assert r["values"] == expected(SAG)


def test_garbage_before_slash(tmp_path):
    junk = bytes(range(0x80, 0x100)) + b"noise 1-0:1.8.0(999999.999*kWh)\r\n" + b"\xff" * 50
    assert b"/" not in junk
    r = feed(tmp_path, junk + SX)
    assert r["counters"]["garbage"] == len(junk) - 2  # CR LF between telegrams are not garbage
    assert r["counters"]["telegrams_ok"] == 1
    assert r["values"] == expected(SX)


READERS = pytest.mark.parametrize("reader", ["native", "portable"])  # bridge.py loads one or the other


@functools.cache
def short_crc_body(digits):
    """(body '/' .. '!', its CRC) where the CRC needs exactly `digits` hex digits,
    one of them a letter (so that upper and lower case differ)."""
    for i in range(1_000_000):
        body = make_telegram([b"1-0:1.8.0(%010.3f*kWh)" % (i / 1000), b"1-0:32.7.0(231.5*V)"])[:-6]
        crc = crc_arc(body)
        if len(b"%X" % crc) == digits and re.search(rb"[A-F]", b"%X" % crc):
            return body, crc
    raise AssertionError("no CRC of %d digits found" % digits)


@READERS
@pytest.mark.parametrize("digits", [1, 2, 3])
def test_crc_without_zero_padding_is_the_number_the_meter_meant(tmp_path, digits, reader):
    # A meter that writes its CRC with %X rather than %04X sends 1-3 digits below
    # 0x1000. Upper or lower case: the same number (hex digits either way).
    body, crc = short_crc_body(digits)
    for field in (b"%X" % crc, b"%x" % crc, b"%04X" % crc):
        t = body + field + b"\r\n"
        r = feed(tmp_path, t, reader=reader)
        assert r["counters"]["telegrams_ok"] == 1 and r["counters"]["framing"] == 0, (field, r)
        assert r["values"] == expected(t)
    # One digit wrong, or one more digit than the number has: rejected.
    wrong = b"%X" % (crc ^ 1)
    for field, counter in ((wrong, "crc_errors"), (b"1%X" % crc, "crc_errors"), (b"", "framing")):
        r = feed(tmp_path, body + field + b"\r\n", reader=reader)
        assert r["counters"][counter] == 1 and r["values"] == {}, (field, r)


@READERS
def test_a_line_sent_twice_publishes_its_last_valid_value(tmp_path, reader):
    # As dsmr-parser, the oracle, reads it (tests/host/test_oracle.py): the last line
    # wins; one the bridge cannot publish (a letter in a number) leaves the earlier.
    t = make_telegram([b"1-0:32.7.0(234.0*V)", b"1-0:1.8.0(000001.000*kWh)", b"1-0:32.7.0(241.5*V)",
                       b"1-0:2.8.0(000005.000*kWh)", b"1-0:2.8.0(0000x6.000*kWh)"])
    r = feed(tmp_path, t, reader=reader)
    assert r["counters"]["telegrams_ok"] == 1 and r["counters"]["bad_values"] == 1
    assert r["values"] == {"instantaneous_voltage_in_phase_L1": "241.5", "positive_energy_total": "1.000",
                           "negative_energy_total": "5.000"}


def test_overlong_lines(tmp_path):
    t = make_telegram([
        b"0-0:96.13.0(" + b"\xff" * 10000 + b")",  # far beyond the SX631's 1024 bytes
        b"1-0:1.8.0(" + b"1" * 40 + b"*kWh)",  # a mapped value too long for its buffer
        b"1-0:2.8.0(000001.500*kWh)",
        b"1-0:1.7.0(-00.5*kW)",
    ])
    r = feed(tmp_path, t)
    assert r["counters"]["telegrams_ok"] == 1
    assert r["counters"]["overlong"] == 1
    assert r["values"] == {"negative_energy_total": "1.500", "positive_active_instantaneous_power": "-0.5"}


def test_non_numeric_mapped_value_is_skipped(tmp_path):
    t = make_telegram([b"1-0:1.8.0(12a.5*kWh)", b"1-0:2.8.0(7.5*kWh)"])
    r = feed(tmp_path, t)
    assert r["counters"]["bad_values"] == 1
    assert r["values"] == {"negative_energy_total": "7.5"}


def test_log_lines(tmp_path):
    bad = bytearray(SX)
    bad[100] ^= 1
    r = feed(tmp_path, SX + bytes(bad) + SX[:500] + SAG, log=True)
    assert r["log"][0] == "telegram ok crc=5C2E values=44"
    assert re.fullmatch(r"crc error got=5C2E want=[0-9A-F]{4}", r["log"][1])
    assert r["log"][2] == "truncated telegram"
    assert r["log"][3] == "telegram ok crc=99DA values=44"


def feed_args(tmp_path, stream: bytes, *extra, seed=7) -> dict:
    p = tmp_path / f"stream{seed}.bin"
    p.write_bytes(stream)
    return json.loads(run_mpy("run_reader.py", p, seed, *extra).strip().splitlines()[-1])


@pytest.mark.parametrize("cut", [b"1-0:14.7.0", b"0-0:98.1.0(230801", b"(000015.142", b"!5C"])
def test_silence_inside_telegram_truncates_and_next_telegram_is_clean(tmp_path, cut):
    # The run loop calls expire() after telegram_timeout_ms without a byte; here
    # the test calls it where the line goes silent (run_bridge tests the timer).
    head = SX[:SX.index(cut) + len(cut)]
    r = feed_args(tmp_path, head + SAG, f"silence={len(head)}")
    assert r["counters"]["truncated"] == 1
    assert r["counters"]["telegrams_ok"] == 1 and r["counters"]["crc_errors"] == 0
    assert r["values"] == expected(SAG)  # nothing of the cut SX631 telegram


def test_silence_between_telegrams_is_not_truncation(tmp_path):
    r = feed_args(tmp_path, SX + SAG, f"silence={len(SX)}")
    assert r["counters"]["truncated"] == 0 and r["counters"]["telegrams_ok"] == 2


def test_silence_then_garbage_then_telegram(tmp_path):
    head = SX[:1000]
    junk = b"\x00\x7f noise (1-0:1.8.0(1*kWh)\r\n"
    r = feed_args(tmp_path, head + junk + SX, f"silence={len(head)}")
    assert r["counters"]["truncated"] == 1 and r["counters"]["garbage"] == len(junk) - 2
    assert r["values"] == expected(SX)


@pytest.mark.parametrize("cap", [SX, SAG], ids=["sx631", "sagemcom"])
def test_every_new_field_from_the_captures(tmp_path, cap):
    r = feed(tmp_path, cap)
    want = expected(cap)
    for code, (name, kind) in NEW_FIELDS.items():
        if re.search(rb"^" + re.escape(code.encode()) + rb"\(", cap, re.M):
            assert r["values"][name] == want[name], (code, name, kind)
    assert {n for n, _ in NEW_FIELDS.values()} <= set(r["values"])
    assert "consumer_message" not in json.dumps(r["values"]) and "\\u00ff" not in json.dumps(r["values"])


@pytest.mark.parametrize("raw,want", [(b"0", "OFF"), (b"1", "ON"), (b"2", "READY"), (b"ON", "ON"), (b"OFF", "OFF"),
                                      (b"3", None), (b"on", None), (b"", None), (b"ONX", None)])
def test_breaker_vocabulary(tmp_path, raw, want):
    for code in (b"0-0:96.3.10", b"0-0:96.50.68"):
        r = feed(tmp_path, make_telegram([code + b"(" + raw + b")", b"1-0:1.8.0(000001.000*kWh)"]))
        assert r["values"].get("breaker_state") == want, (code, raw)
        assert r["counters"]["bad_values"] == (want is None)
        assert r["values"]["positive_energy_total"] == "1.000"


def test_text_fields_as_sent_and_overlong_text_not_published(tmp_path):
    ident = b"4142434445464748494A4B4C4D4E4F505152535455565758"  # 48: fits exactly
    t = make_telegram([b"0-0:96.1.0(" + ident + b")", b"0-0:42.0.0(" + ident + b"5A)",  # 50: too long
                       b"0-0:1.0.0(230817171430S)", b"0-0:96.14.0(0002)"])
    r = feed(tmp_path, t)
    assert r["values"] == {"equipment_identifier": ident.decode(), "timestamp": "230817171430S",
                           "tariff_indicator": "2"}
    assert r["counters"]["overlong"] == 1 and r["counters"]["telegrams_ok"] == 1
    # Non-printable bytes in a text value: not published (never decoded either).
    r = feed(tmp_path, make_telegram([b"0-0:96.1.0(AB\xffCD)"]))
    assert r["values"] == {} and r["counters"]["bad_values"] == 1


@pytest.mark.parametrize("line,want,counter", [
    (b"0-0:98.1.0(230801000000S)", '{"timestamp":"230801000000S","values":[]}', None),
    (b"0-0:98.1.0(230801000000S)(-0001.5*kWh)(7)", '{"timestamp":"230801000000S","values":[-1.5,7]}', None),
    (b"0-0:98.1.0(230801000000S)(00x1.5*kWh)", None, "bad_values"),
    (b"0-0:98.1.0(230801000000S)(5.*kWh)", None, "bad_values"),  # not a JSON number
    (b"0-0:98.1.0(2308\"1000000S)(1*kWh)", None, "bad_values"),  # would break the JSON
    (b"0-0:98.1.0(230801000000S)" + b"(123456789.123*kWh)" * 40, None, "overlong"),
    (b"0-0:98.1.0(230801000000S)(1*kWh)junk", None, "bad_values"),
])
def test_billing_profile_edges(tmp_path, line, want, counter):
    r = feed(tmp_path, make_telegram([line, b"1-0:2.8.0(000001.500*kWh)"]))
    assert r["counters"]["telegrams_ok"] == 1
    assert r["values"].get("billing_profile") == want
    assert r["values"]["negative_energy_total"] == "1.500"
    if counter:
        assert r["counters"][counter] == 1
    if want:
        json.loads(want)


def test_profile_cut_by_next_telegram(tmp_path):
    head = SX[:SX.index(b"(000015.142") + 5]
    r = feed(tmp_path, head + SAG)
    assert r["counters"]["truncated"] == 1 and r["counters"]["telegrams_ok"] == 1
    assert r["values"] == expected(SAG)
