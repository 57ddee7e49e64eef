"""Bad input on the P1 line: nothing from it is published, good data after it is."""
from __future__ import annotations

from decimal import Decimal

from hil import p1
from hil.captures import load_index
from hil.oracle import expected_values
from hil.verdict import compare

VOLTAGE_L1 = "1-0:32.7.0"


def _sx631() -> bytes:
    return next(c for c in load_index() if c.file.startswith("sx631")).data


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
    subscriber.wait_for(lambda msgs: {m.name for m in msgs if not m.retain} >= set(expected), timeout=10)
    by_name = subscriber.values()
    result = compare(expected, by_name, times=1)  # exactly once: from the good telegram only
    leaked = [m.text for m in by_name.get("instantaneous_voltage_in_phase_L1", []) if Decimal(m.text) == Decimal("999.9")]
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
    subscriber.wait_for(lambda msgs: {m.name for m in msgs if not m.retain} >= set(expected), timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    problems = list(result.problems)
    if framing_before is not None and framing_after <= framing_before:
        problems.append(f"line model saw no framing errors with wrong polarity ({framing_before} → {framing_after})")
    assert not problems, why(problems)
