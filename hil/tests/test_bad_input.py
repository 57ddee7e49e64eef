"""Bad input on the P1 line: nothing from it is published, good data after it
is, and the bridge's reader counters say what it saw."""
from __future__ import annotations

import time
from decimal import Decimal

from ..p1 import framing as p1
from ..p1.captures import sx631
from ..oracle.expected import expected_payloads, matches
from ..oracle.dsmr import expected_values
from ..oracle.verdict import compare

from . import scenario

VOLTAGE_L1 = "1-0:32.7.0"
CONSUMER_MESSAGE = "0-0:96.13.0"
EQUIPMENT_ID = "0-0:96.1.0"


def _sx631() -> bytes:
    return sx631().data


def test_corrupted_byte_publishes_nothing_and_next_good_telegram_does(rig, subscriber, why):
    good = _sx631()
    # Mark the bad telegram so any value leaking from it is recognisable.
    marked = p1.replace_value(good, VOLTAGE_L1, "999.9")
    bad = p1.corrupt_byte(marked)
    assert not p1.telegram_crc_ok(bad)
    since = rig.bridge.mark()
    remote_bad = rig.upload_capture("corrupt.p1", bad)
    remote_good = rig.upload_capture("good.p1", good)

    rig.play([remote_bad, remote_good], interval_ms=500, count=1)

    expected = expected_values(good)
    subscriber.wait_for_names(expected, timeout=10)
    by_name = subscriber.values()
    result = compare(expected, by_name, times=1)  # exactly once: from the good telegram only
    leaked = [m.text for m in by_name.get("instantaneous_voltage_in_phase_L1", []) if matches(m.payload, Decimal("999.9"))]
    assert result and not leaked, why(result.problems + [f"values leaked from the corrupt telegram: {leaked}"])
    rig.bridge.expect_line(r"^bridge: crc error", timeout=5, since=since)


def test_wrong_polarity_publishes_nothing(rig, subscriber, why, virtual_rig_stats):
    """The adapter inverts; with the emulator's inversion off the bridge sees an
    inverted line (idle low, garbled bytes) and must publish nothing."""
    good = _sx631()
    remote = rig.upload_capture("good.p1", good)
    marker = p1.replace_value(good, VOLTAGE_L1, "111.1")
    remote_marker = rig.upload_capture("marker.p1", marker)
    framing_before = virtual_rig_stats()

    rig.set_inverted(False)
    try:
        rig.play([remote], interval_ms=300, count=2)
    finally:
        rig.set_inverted(True)
    framing_after = virtual_rig_stats()
    # A telegram sent after the bad ones proves the bridge has processed them.
    rig.play([remote_marker], interval_ms=0, count=1)

    expected = expected_values(marker)
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    problems = list(result.problems)
    if framing_before is not None and framing_after <= framing_before:
        problems.append(f"line model saw no framing errors with wrong polarity ({framing_before} → {framing_after})")
    assert not problems, why(problems)


def _replay_and_count(rig, subscriber, why, data: bytes, expected: dict, name: str) -> tuple[dict, dict]:
    """Play `data` once; every expected value must arrive exactly once.
    Returns the bridge's status before and after (counters of the reader)."""
    before = scenario.wait_status(subscriber, why, after=time.monotonic())
    rig.play([rig.upload_capture(name, data)], interval_ms=0, count=1)
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    after = scenario.wait_status(subscriber, why, after=time.monotonic())
    assert result, why(result.problems + [f"status before: {before}", f"status after: {after}"])
    return before, after


def _rose(before: dict, after: dict, counter: str) -> int:
    return after[counter] - before[counter]


def test_0xff_flood_before_a_telegram_is_garbage_and_the_telegram_is_published(rig, subscriber, why):
    """A line that floats or rings gives a stream of 0xFF: the reader hunts
    through it for the next '/', counting it as garbage."""
    good = _sx631()
    flood = 8192
    before, after = _replay_and_count(rig, subscriber, why, b"\xff" * flood + good, expected_values(good),
                                      "ff_flood.p1")
    problems = []
    if _rose(before, after, "garbage") < flood:
        problems.append(f"garbage rose by {_rose(before, after, 'garbage')}, the flood was {flood} bytes")
    if _rose(before, after, "telegrams_ok") != 1 or _rose(before, after, "crc_errors"):
        problems.append(f"expected one telegram ok and no CRC error: {before} → {after}")
    assert not problems, why(problems)


def test_0xff_flood_inside_a_telegram_is_skipped_and_the_rest_published(rig, subscriber, why):
    """The SX631's consumer message is 1024 bytes of 0xFF; six times that in a
    CRC-valid telegram costs the bridge nothing (the code is not published)."""
    flooded = p1.replace_value(_sx631(), CONSUMER_MESSAGE, b"\xff" * 6144)
    assert p1.telegram_crc_ok(flooded)
    before, after = _replay_and_count(rig, subscriber, why, flooded, expected_payloads(flooded), "ff_inside.p1")
    assert _rose(before, after, "telegrams_ok") == 1, why([f"expected one telegram ok: {before} → {after}"])


def test_over_long_value_is_counted_and_the_rest_of_the_telegram_published(rig, subscriber, why):
    """An equipment identifier of 300 characters does not fit the bridge's text
    buffer (48 bytes): that field is dropped and counted as overlong, every
    other field of the CRC-valid telegram is published."""
    long_id = p1.replace_value(_sx631(), EQUIPMENT_ID, "9" * 300)
    expected = expected_payloads(long_id)
    del expected["equipment_identifier"]
    before, after = _replay_and_count(rig, subscriber, why, long_id, expected, "long_id.p1")
    leaked = subscriber.values().get("equipment_identifier", [])
    problems = [f"equipment_identifier published although over-long: {[m.text[:60] for m in leaked]}"] if leaked else []
    if _rose(before, after, "overlong") != 1 or _rose(before, after, "telegrams_ok") != 1:
        problems.append(f"expected overlong +1 and one telegram ok: {before} → {after}")
    assert not problems, why(problems)
