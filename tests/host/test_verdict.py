"""hil.oracle.verdict.compare: one telegram played N times, or a sequence capture
compared telegram by telegram."""
from __future__ import annotations

from decimal import Decimal

from hil.oracle.expected import expected_sequence
from hil.net.message import Message
from hil.p1.synth import synthesize
from hil.p1.captures import sx631
from hil.oracle.verdict import compare

VOLTAGE = "instantaneous_voltage_in_phase_L1"
SX631 = sx631().data


def _published(values: list[dict]) -> dict[str, list[Message]]:
    """What a bridge that gets every value right publishes for these telegrams."""
    by_name: dict[str, list[Message]] = {}
    for k, telegram in enumerate(values):
        for name, want in telegram.items():
            text = str(want) if not isinstance(want, dict) else "{}"
            by_name.setdefault(name, []).append(Message(f"p1/{name}", text.encode(), False, float(k)))
    return by_name


def test_one_telegram_played_three_times():
    expected = {"instantaneous_voltage_in_phase_L1": Decimal("230.1"), "breaker_state": "ON"}
    result = compare(expected, _published([expected] * 3), times=3)
    assert result and result.matched == 6
    short = compare(expected, _published([expected] * 2), times=3)
    assert not short and "instantaneous_voltage_in_phase_L1: expected 3 message(s) of 230.1, got 2" in short.problems[1]


def test_superseded_ok_takes_fewer_messages_but_each_right_and_at_least_one():
    expected = {VOLTAGE: Decimal("230.1"), "breaker_state": "ON"}
    fewer = _published([expected] * 2)
    assert compare(expected, fewer, times=3, superseded_ok=True).matched == 4
    wrong = _published([expected, dict(expected, breaker_state="OFF")])
    assert "breaker_state: expected ON, got payload 'OFF'" in compare(expected, wrong, times=3,
                                                                     superseded_ok=True).problems[0]
    none = {VOLTAGE: fewer[VOLTAGE]}
    assert compare(expected, none, times=3, superseded_ok=True).problems == [
        "breaker_state: expected 3 message(s) of ON, got 0: []"]
    more = _published([expected] * 4)
    assert len(compare(expected, more, times=3, superseded_ok=True).problems) == 2


def test_a_sequence_is_compared_telegram_by_telegram():
    sequence = expected_sequence(b"".join(synthesize(SX631, 10)))
    assert len(sequence) == 10
    sequence = [{k: v for k, v in t.items() if not isinstance(v, dict)} for t in sequence]
    assert len({t[VOLTAGE] for t in sequence}) > 1, "the synthesized telegrams differ"
    published = _published(sequence * 2)
    result = compare(sequence, published, times=2)
    assert result, result.problems
    assert result.matched == 2 * sum(len(t) for t in sequence)
    # Telegram 4's value published in place of telegram 5's: named by telegram and round.
    swapped = dict(published)
    msgs = list(swapped[VOLTAGE])
    msgs[14] = msgs[13]
    swapped[VOLTAGE] = msgs
    assert sequence[3][VOLTAGE] != sequence[4][VOLTAGE]
    problems = compare(sequence, swapped, times=2).problems
    assert problems == [f"{VOLTAGE}: telegram 5 of 10 (round 2): expected {sequence[4][VOLTAGE]}, "
                        f"got payload {msgs[13].text!r} on p1/{VOLTAGE}"]
