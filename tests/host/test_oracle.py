"""hil.oracle.dsmr: dsmr-parser's view of the captures, checked against the raw text."""

from decimal import Decimal
from pathlib import Path

import pytest

from hil.oracle import dsmr as oracle
from hil.p1 import framing as p1
from hil.oracle.contract import OBIS_BY_TOPIC, TOPICS

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SX631 = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAGEMCOM = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()
BOTH = pytest.mark.parametrize("telegram", [SX631, SAGEMCOM], ids=["sx631", "sagemcom"])


def test_contract_is_the_frozen_table():
    # The compatibility contract (docs/ARCHITECTURE.md section 7, hil/oracle/contract.py) has 35 OBIS codes.
    assert len(TOPICS) == 35
    assert len(set(TOPICS.values())) == 35
    assert TOPICS["1-0:32.7.0"] == "instantaneous_voltage_in_phase_L1"
    assert TOPICS["1-0:8.7.0"] == "reactive_power_instantaneous_Q4"
    assert OBIS_BY_TOPIC["power_limiter_limit"] == "0-0:17.0.0"
    with pytest.raises(TypeError):
        TOPICS["1-0:1.8.0"] = "renamed"


def test_installed_dsmr_parser_fits_the_contract():
    oracle.check_spec()  # raises OracleSpecError otherwise


def _contract_lines(telegram):
    """Contract OBIS code -> (number, unit) straight from the raw text."""
    found = {}
    for obis, groups in p1.cosem_values(telegram).items():
        if obis in TOPICS:
            number, _, unit = groups[0].decode("ascii").partition("*")
            found[obis] = (Decimal(number), unit or None)
    return found


@BOTH
def test_every_contract_code_in_the_capture_is_extracted_and_agrees(telegram):
    raw = _contract_lines(telegram)
    assert raw, "capture has no contract lines"
    exp = oracle.expect(telegram)
    missing = sorted(obis for obis in raw if TOPICS[obis] not in exp.values)
    assert missing == [], "dsmr-parser did not extract %s" % missing
    extra = sorted(topic for topic in exp.values if OBIS_BY_TOPIC[topic] not in raw)
    assert extra == [], "dsmr-parser invented %s" % extra
    disagree = {TOPICS[obis]: (raw_value, exp.values[TOPICS[obis]])
                for obis, (raw_value, _) in raw.items() if exp.values[TOPICS[obis]] != raw_value}
    assert disagree == {}, "dsmr-parser vs raw text (raw, parsed): %s" % disagree
    units = {TOPICS[obis]: unit for obis, (_, unit) in raw.items()}
    assert dict(exp.units) == units


def test_both_captures_carry_the_whole_contract():
    for telegram in (SX631, SAGEMCOM):
        assert set(oracle.expected_values(telegram)) == set(TOPICS.values())


def test_sx631_values():
    values = oracle.expected_values(SX631)
    assert values["instantaneous_voltage_in_phase_L1"] == Decimal("234.0")
    assert values["positive_energy_total"] == Decimal("812.421")
    assert values["instantaneous_current_in_phase_L1"] == Decimal("1")
    assert values["instantaneous_power_factor"] == Decimal("0.336")
    assert values["frequency"] == Decimal("49.99")
    assert values["power_limiter_limit"] == Decimal("90.000")
    assert all(isinstance(v, Decimal) for v in values.values())


def test_sagemcom_values():
    values = oracle.expected_values(SAGEMCOM)
    assert values["instantaneous_voltage_in_phase_L1"] == Decimal("240.4")
    assert values["negative_active_instantaneous_power"] == Decimal("2.601")
    assert values["reactive_power_instantaneous_Q3"] == Decimal("0.504")
    # As sent by the meter (> 1); the oracle does not second-guess the meter.
    assert values["instantaneous_power_factor"] == Decimal("4.556")


def test_sx631_0xff_message_is_skipped_quietly(caplog):
    exp = oracle.expect(SX631)
    assert exp.unparsed == ("TEXT_MESSAGE",)
    assert not [r for r in caplog.records if r.name.startswith("dsmr_parser")]


def test_bad_crc_raises_typed_error():
    with pytest.raises(oracle.OracleChecksumError, match="CRC"):
        oracle.expected_values(SX631.replace(b"!5C2E", b"!5C2F"))


@pytest.mark.parametrize("data", [b"", b"hello", SX631[:-8]], ids=["empty", "text", "no-crc"])
def test_incomplete_telegram_raises_oracle_error(data):
    with pytest.raises(oracle.OracleError):
        oracle.expected_values(data)


def test_str_input_is_refused():
    with pytest.raises(TypeError):
        oracle.expected_values(SX631.decode("latin-1"))


def test_skipped_contract_line_raises():
    # Lower-case unit letters are fine for dsmr-parser, but a '+' sign is outside its
    # value alphabet: it logs the line as unparseable and moves on. The oracle must
    # not silently drop a contract topic.
    changed = p1.replace_value(SX631, "1-0:32.7.0", "+234.0")
    with pytest.raises(oracle.OracleError, match="INSTANTANEOUS_VOLTAGE_L1"):
        oracle.expected_values(changed)


def test_firmware_table_keeps_the_compatibility_contract():
    """The firmware's one table publishes every frozen name under its OBIS code, as a number."""
    from hil.oracle.contract import TOPICS, published_table

    table = {obis: (name, kind) for obis, name, kind in published_table()}
    assert {obis: table.get(obis) for obis in TOPICS} == {obis: (name, "number") for obis, name in TOPICS.items()}
    new_names = {name for obis, name, _ in published_table() if obis not in TOPICS}
    assert not new_names & set(TOPICS.values()), "a new field reuses a frozen name"


def _with_line_twice(telegram, obis, second_value):
    """telegram with a second `obis` line carrying second_value right before '!', CRC made anew."""
    bang = telegram.rindex(b"\r\n!") + 2
    extra = b"%s(%s)\r\n" % (obis.encode("ascii"), second_value)
    return p1.with_crc(telegram[:bang] + extra + b"!")


def test_a_line_sent_twice_reads_as_its_last_in_dsmr_parser_and_in_cosem_values():
    # What the meter means by a line it sends twice is decided by the oracle: the
    # installed dsmr-parser gives the last line's value (its Telegram attributes,
    # which expect() reads); bridge_firmware/README.md documents the same.
    twice = _with_line_twice(SX631, "1-0:32.7.0", b"241.5*V")
    assert oracle.expected_values(SX631)["instantaneous_voltage_in_phase_L1"] == Decimal("234.0")
    assert oracle.expected_values(twice)["instantaneous_voltage_in_phase_L1"] == Decimal("241.5")
    assert p1.cosem_values(twice)["1-0:32.7.0"] == [b"241.5*V"]
    assert [g for code, g in p1.cosem_lines(twice) if code == "1-0:32.7.0"] == [[b"234.0*V"], [b"241.5*V"]]


def test_a_repeated_line_dsmr_parser_cannot_parse_leaves_the_earlier_value(caplog):
    # dsmr-parser skips (logs) a second line outside its value alphabet, so the first
    # one stands: the bridge likewise does not stage a value invalid for its kind.
    # expect() itself refuses the telegram, as for any skipped contract line.
    twice = _with_line_twice(SX631, "1-0:32.7.0", b"+241.5*V")
    parsed = oracle.check_spec().parse(twice.decode("latin-1"))
    assert parsed.INSTANTANEOUS_VOLTAGE_L1.value == Decimal("234.0")
    with pytest.raises(oracle.OracleError, match="INSTANTANEOUS_VOLTAGE_L1"):
        oracle.expect(twice)


def _short_crc_body(digits):
    """('/' .. '!' of a small telegram, its CRC) where the CRC needs exactly `digits`
    hex digits, one of them a letter (so upper and lower case differ)."""
    for i in range(1_000_000):
        body = b"/TST5TEST\r\n\r\n1-0:1.8.0(%010.3f*kWh)\r\n1-0:32.7.0(231.5*V)\r\n!" % (i / 1000)
        crc = p1.crc16(body)
        if len(b"%X" % crc) == digits and any(c in b"ABCDEF" for c in b"%X" % crc):
            return body, crc
    raise AssertionError("no CRC of %d digits found" % digits)


@pytest.mark.parametrize("digits", [1, 2, 3])
def test_a_crc_without_zero_padding_or_in_lower_case_is_the_number_the_meter_meant(digits):
    body, crc = _short_crc_body(digits)
    want = oracle.expected_values(body + b"%04X\r\n" % crc)
    assert want["positive_energy_total"] == Decimal(p1.cosem_values(body)["1-0:1.8.0"][0][:-4].decode())
    for field in (b"%X" % crc, b"%x" % crc, b"%04x" % crc):
        assert oracle.expected_values(body + field + b"\r\n") == want, field
        assert p1.telegram_crc_ok(body + field + b"\r\n"), field
    for wrong in (b"%X" % (crc ^ 1), b"%x" % (crc ^ 1), b"1%X" % crc):
        with pytest.raises(oracle.OracleChecksumError):
            oracle.expected_values(body + wrong + b"\r\n")
        assert not p1.telegram_crc_ok(body + wrong + b"\r\n")
