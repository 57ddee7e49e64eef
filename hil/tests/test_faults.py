"""Faults injected by the emulator on command, observed at the bridge side.

Each faulty telegram is marked (L1 voltage 999.9) and followed by a good
telegram: the good one must arrive exactly once, nothing of the marked one.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from ..p1 import framing as p1
from ..p1.captures import sx631
from ..oracle.dsmr import expected_values
from ..oracle.expected import matches
from hil.rig.emulator import EmulatorError
from ..oracle.verdict import compare

VOLTAGE_L1 = "1-0:32.7.0"
MARK = Decimal("999.9")


@pytest.fixture(scope="module")
def telegrams(rig):
    good = sx631().data
    marked = p1.replace_value(good, VOLTAGE_L1, str(MARK))
    return {"good": good, "marked": marked,
            "good_remote": rig.upload_capture("good.p1", good),
            "marked_remote": rig.upload_capture("marked.p1", marked)}


def _marked_then_good(rig, subscriber, why, telegrams, fault: str):
    """Arm `fault`, play marked+good; assert only the good telegram's values arrived."""
    armed = rig.emulator_client.command(f"fault {fault}")["armed"]
    assert armed, why([f"emulator armed nothing for 'fault {fault}'"])
    since = rig.bridge.mark()
    sent = rig.play([telegrams["marked_remote"], telegrams["good_remote"]], interval_ms=400, count=1)
    assert list(sent[0].faults) == armed and not sent[1].faults, why([f"faults reported per telegram: {sent}"])
    expected = expected_values(telegrams["good"])
    subscriber.wait_for_names(expected, timeout=10)
    by_name = subscriber.values()
    result = compare(expected, by_name, times=1)
    leaked = [m.text for m in by_name.get("instantaneous_voltage_in_phase_L1", []) if matches(m.payload, MARK)]
    assert result and not leaked, why(result.problems + [f"values leaked from the faulty telegram: {leaked}"])
    return sent, since


def test_corrupt_byte(rig, subscriber, why, telegrams):
    sent, since = _marked_then_good(rig, subscriber, why, telegrams, "corrupt=500:4")
    assert sent[0].nbytes == len(telegrams["marked"])
    rig.bridge.expect_line(r"^bridge: crc error", timeout=5, since=since)


def test_truncated_telegram(rig, subscriber, why, telegrams):
    sent, since = _marked_then_good(rig, subscriber, why, telegrams, "truncate=1200")
    assert sent[0].nbytes == 1200, why([f"emulator sent {sent[0].nbytes} bytes, asked to stop at 1200"])
    rig.bridge.expect_line(r"^bridge: truncated telegram", timeout=5, since=since)


def test_missing_crc(rig, subscriber, why, telegrams):
    sent, since = _marked_then_good(rig, subscriber, why, telegrams, "nocrc")
    bang = telegrams["marked"].rindex(b"!")
    assert sent[0].nbytes == bang + 3, why([f"expected the telegram to end with '!' CRLF at {bang + 3} bytes"])
    rig.bridge.expect_line(r"^bridge: framing error", timeout=5, since=since)


def test_noise_between_telegrams_does_not_hurt_the_next(rig, subscriber, why, telegrams, line_stats):
    before = line_stats()
    rig.emulator_client.command("fault noise=300")
    sent = rig.play([telegrams["good_remote"]], interval_ms=0, count=1)
    assert sent[0].faults == ("noise=300",)
    expected = expected_values(telegrams["good"])
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    assert result, why(result.problems)
    after = line_stats()
    if before is not None:
        got = after.bytes_received - before.bytes_received
        assert got >= len(telegrams["good"]) + 250, why([f"bridge side received {got} bytes; noise did not arrive?"])


def test_pause_mid_telegram_shorter_than_timeout_is_fine(rig, subscriber, why, telegrams):
    rig.emulator_client.command("fault pause=1000:300")
    sent = rig.play([telegrams["good_remote"]], interval_ms=0, count=1)
    duration = sent[0].board_end - sent[0].board_start
    assert duration >= 300 + 200, why([f"telegram took {duration} ms on the line; a 300 ms pause was asked"])
    expected = expected_values(telegrams["good"])
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    assert result, why(result.problems)


def test_pause_mid_telegram_longer_than_timeout_truncates_it(rig, subscriber, why, telegrams):
    """The bridge's telegram_timeout_ms is 1000: a line silent for 1.5 s inside
    a telegram ends it as truncated; nothing of it is published."""
    sent, since = _marked_then_good(rig, subscriber, why, telegrams, "pause=1000:1500")
    duration = sent[0].board_end - sent[0].board_start
    assert duration >= 1500, why([f"telegram took {duration} ms on the line; a 1500 ms pause was asked"])
    rig.bridge.expect_line(r"^bridge: truncated telegram: line silent", timeout=5, since=since)


def test_wrong_baud_publishes_nothing(rig, subscriber, why, telegrams, line_stats):
    before = line_stats()
    reply = rig.emulator_client.command("line baud=57600")
    assert reply["baud"] == 57600 and reply["inverted"], why([f"line reconfiguration answered {reply}"])
    try:
        rig.play([telegrams["marked_remote"]], interval_ms=0, count=2)
    finally:
        rig.emulator_client.command("line baud=115200 invert=1")
    after = line_stats()
    rig.play([telegrams["good_remote"]], interval_ms=0, count=1)
    expected = expected_values(telegrams["good"])
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    problems = list(result.problems)
    if before is not None and after.framing_errors <= before.framing_errors:
        problems.append("no framing errors on the line at 57600 baud into a 115200 receiver")
    assert not problems, why(problems)


def test_bad_commands_are_rejected_and_playing_goes_on(rig, why, telegrams):
    seen = []
    rig.emulator_client.command(f"play {telegrams['good_remote']} interval_ms=300 count=0",
                    on_event=lambda at, m: seen.append(m))
    try:
        for bad, hint in (("fault bogus=1", "unknown fault"), ("play nowhere.p1", "already playing"),
                          ("line baud=fast", "integer"), ("frobnicate", "unknown command")):
            with pytest.raises(EmulatorError, match=hint):
                rig.emulator_client.command(bad, on_event=lambda at, m: seen.append(m))
        status = rig.emulator_client.command("status", on_event=lambda at, m: seen.append(m))
        assert status["playing"] and status["armed"] == [] and status["baud"] == 115200, why([f"status {status}"])
        before = status["telegrams"]
        # Playing goes on: wait for two more telegrams.
        while sum(m.get("event") == "sent" and m["seq"] > before for m in seen) < 2:
            at, msg = rig.emulator_client._next(5)
            seen.append(msg)
    finally:
        rig.emulator_client.command("stop")
        while not any(m.get("event") == "done" for m in seen):
            seen.append(rig.emulator_client._next(5)[1])


def test_a_sequence_file_plays_one_telegram_per_slot(rig, subscriber, why, telegrams):
    """A recorded sequence (telegrams back to back in one file) is played
    telegram by telegram, each in its own interval slot."""
    remote = rig.upload_capture("pair.p1", telegrams["marked"] + telegrams["good"])
    sent = rig.play([remote], interval_ms=300, count=1)
    assert [s.nbytes for s in sent] == [len(telegrams["marked"]), len(telegrams["good"])], why([f"{sent}"])
    gap = sent[1].board_start - sent[0].board_start
    assert 280 <= gap <= 320, why([f"second telegram started {gap} ms after the first; interval 300 ms"])
    def marked_then_good(msgs):
        # Values of an earlier test may still arrive first: look from the marked one on.
        volts = [m.text for m in msgs if m.name == "instantaneous_voltage_in_phase_L1"]
        return str(MARK) in volts and "234.0" in volts[volts.index(str(MARK)):]

    arrived = subscriber.wait_for(marked_then_good, 10)
    volts = [m.text for m in subscriber.values()["instantaneous_voltage_in_phase_L1"]]
    assert arrived and volts.count(str(MARK)) == 1, why([f"L1 voltages published: {volts}"])
