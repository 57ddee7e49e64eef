"""hil.p1.framing: CRC, framing, validation and the fault-injection helpers."""

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from hil.p1 import framing as p1
from hil.oracle.contract import TOPICS
from hil.oracle.dsmr import OracleChecksumError, expected_values

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SX631 = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAGEMCOM = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()
BOTH = pytest.mark.parametrize("telegram", [SX631, SAGEMCOM], ids=["sx631", "sagemcom"])


def test_crc16_check_value():
    # The catalogue check value of CRC-16/ARC.
    assert p1.crc16(b"123456789") == 0xBB3D
    assert p1.crc16(b"") == 0


@pytest.mark.parametrize("telegram, crc", [(SX631, 0x5C2E), (SAGEMCOM, 0x99DA)], ids=["sx631", "sagemcom"])
def test_crc16_of_captures(telegram, crc):
    body = telegram[:telegram.rindex(b"!") + 1]
    assert p1.crc16(body) == crc
    assert p1.telegram_crc_ok(telegram)
    assert p1.with_crc(body) == telegram


def test_sx631_has_the_0xff_message():
    assert b"0-0:96.13.0(" + b"\xff" * 1024 + b")\r\n" in SX631


@BOTH
def test_captures_validate_clean(telegram):
    assert p1.validate(telegram) == []


def test_split_stream_with_garbage_and_partial_frames():
    stream = b"\x00garbage\r\n" + SX631 + SAGEMCOM[:300] + SAGEMCOM + SX631 + SX631[:100]
    assert p1.split_telegrams(stream) == [SX631, SAGEMCOM, SX631]


def test_split_empty_and_no_frames():
    assert p1.split_telegrams(b"") == []
    assert p1.split_telegrams(b"no frame here\r\n!1234\r\n") == []


def test_cosem_values_keeps_bytes_and_units():
    values = p1.cosem_values(SX631)
    assert values["1-0:32.7.0"] == [b"234.0*V"]
    assert values["1-0:13.7.0"] == [b"0.336"]
    assert values["0-0:96.13.0"] == [b"\xff" * 1024]
    assert len(values["0-0:98.1.0"]) == 20


@pytest.mark.parametrize("mutate, expected", [
    (lambda t: t[1:], "missing '/' header at byte 0"),
    (lambda t: t.replace(b"\r\n!", b"\r\n"), "missing '!' end line"),
    (lambda t: t.replace(b"!5C2E", b"!5C2F"), "bad CRC: got 5C2F, want 5C2E"),
    (lambda t: t.replace(b"!5C2E", b"!5c2e"), "is not 4 upper-case hex digits"),
    (lambda t: t.replace(b"1-0:14.7.0(49.99*Hz)\r\n", b"1-0:14.7.0(49.99*Hz)\n"), "ends in bare LF"),
    (lambda t: t.replace(b"1-0:14.7.0(49.99*Hz)", b"1-0:14.7.0 49.99*Hz"), "not a COSEM line"),
    (lambda t: t.replace(b"AUX59903218166\r\n\r\n", b"AUX59903218166\r\n"), "line 2 must be blank"),
    (lambda t: t + b"xx", "2 bytes after the CRC line"),
    (lambda t: t[:-2], "no line end"),
])
def test_validate_reports(mutate, expected):
    problems = p1.validate(mutate(SX631))
    assert any(expected in problem for problem in problems), problems


def test_with_crc_rejects_non_body():
    with pytest.raises(p1.FrameError):
        p1.with_crc(b"/ABC5\r\n\r\n")
    with pytest.raises(p1.FrameError):
        p1.with_crc(b"ABC5\r\n\r\n!")


@BOTH
def test_replace_value_keeps_unit_and_crc_and_oracle_sees_it(telegram):
    changed = p1.replace_value(telegram, "1-0:32.7.0", "229.9")
    assert p1.validate(changed) == []
    assert p1.cosem_values(changed)["1-0:32.7.0"] == [b"229.9*V"]
    values = expected_values(changed)
    assert values["instantaneous_voltage_in_phase_L1"] == Decimal("229.9")
    # Only that value moved.
    before = expected_values(telegram)
    assert {k: v for k, v in values.items() if v != before[k]} == {
        "instantaneous_voltage_in_phase_L1": Decimal("229.9")}


def test_replace_value_unitless_and_only_first_group():
    changed = p1.replace_value(SX631, b"0-0:98.1.0", "230901000000S")
    assert p1.cosem_values(changed)["0-0:98.1.0"][:2] == [b"230901000000S", b"000663.924*kWh"]
    changed = p1.replace_value(SX631, "1-0:13.7.0", "0.5")
    assert p1.cosem_values(changed)["1-0:13.7.0"] == [b"0.5"]


def test_replace_value_errors():
    with pytest.raises(p1.ObisNotFoundError):
        p1.replace_value(SX631, "1-0:99.9.9", "1")
    with pytest.raises(ValueError):
        p1.replace_value(SX631, "1-0:1.8.0", "1*kWh")
    # A prefix of another code is not that code.
    with pytest.raises(p1.ObisNotFoundError):
        p1.replace_value(SX631, "1-0:1.8", "1")


@BOTH
def test_corrupt_byte_default_breaks_crc_only(telegram):
    bad = p1.corrupt_byte(telegram)
    assert len(bad) == len(telegram) and bad != telegram
    assert not p1.telegram_crc_ok(bad)
    problems = p1.validate(bad)
    assert len(problems) == 1 and problems[0].startswith("bad CRC"), problems
    # The default hits a digit of 1-0:1.8.0 and leaves a digit there.
    index = next(i for i in range(len(telegram)) if bad[i] != telegram[i])
    line_start = telegram.rindex(b"\n", 0, index) + 1
    assert telegram[line_start:].startswith(b"1-0:1.8.0(")
    assert chr(bad[index]).isdigit()
    with pytest.raises(OracleChecksumError):
        expected_values(bad)


def test_corrupt_byte_explicit_index_and_errors():
    bad = p1.corrupt_byte(SX631, index=0, xor=0xFF)
    assert bad[0] == ord("/") ^ 0xFF
    with pytest.raises(IndexError):
        p1.corrupt_byte(SX631, index=len(SX631))
    with pytest.raises(ValueError):
        p1.corrupt_byte(SX631, xor=0)


_NUMBER = st.from_regex(r"\A-?[0-9]{1,6}(\.[0-9]{1,3})?\Z")
_CASES = st.sampled_from([
    (name, telegram, obis)
    for name, telegram in (("sx631", SX631), ("sagemcom", SAGEMCOM))
    for obis in TOPICS
])


@settings(deadline=None, max_examples=150)
@given(case=_CASES, number=_NUMBER)
def test_replace_value_property(case, number):
    _, telegram, obis = case
    changed = p1.replace_value(telegram, obis, number)
    assert p1.validate(changed) == []
    assert p1.telegram_crc_ok(changed)
    assert p1.split_telegrams(changed) == [changed]
    assert expected_values(changed)[TOPICS[obis]] == Decimal(number)
