"""hil/tests/scenario.py holds every value published around an outage to the
oracle's for the telegram it claims to be, on made-up observations whose answer
is known: the sequence's telegrams differ in several fields (hil.p1.synth), so
an old or wrong value on any of those topics shows."""
from __future__ import annotations

import json

from hil.oracle.outside import Played
from hil.p1 import framing as p1
from hil.p1 import synth
from hil.p1.captures import sx631
from hil.net.message import Message
from hil.tests import scenario

TEMPLATE = sx631().data
VOLTAGE = "instantaneous_voltage_in_phase_L1"
BASE = scenario.Baseline(t0=0.0, log_mark=0, status=None, heap_at_rest=None)


class Seen:
    """What a subscriber received: the part of hil.net.subscriber.Subscriber the judge reads."""

    def __init__(self, msgs: list[Message]):
        self.msgs = msgs

    def snapshot(self) -> list[Message]:
        return list(self.msgs)

    def wait_for(self, predicate, timeout: float) -> bool:
        return predicate(self.msgs)  # nothing more will arrive


def _payload(value) -> bytes:
    if isinstance(value, dict):  # the billing profile, as the bridge writes it
        return json.dumps({"timestamp": value["timestamp"], "values": [float(v) for v in value["values"]]}).encode()
    return str(value).encode()


def _published(index: int, at: float, **instead) -> list[Message]:
    """Telegram `index`'s values as a correct bridge publishes them, some replaced."""
    values = dict(scenario.oracle(TEMPLATE, index), **instead)
    return [Message(f"p1/{name}", _payload(v), False, at) for name, v in values.items()]


def _played(n: int) -> list[Played]:
    return [Played(k + 1, k, float(k), k + 0.2) for k in range(n)]


def test_the_sequence_varies_several_fields_per_telegram_with_valid_crcs():
    seq = synth.sequence(TEMPLATE, 50)
    assert {len(t) for t in seq} == {len(TEMPLATE)}  # a telegram's offset in the file names it
    assert synth.varied(TEMPLATE) == ("1-0:1.8.0", "1-0:1.8.1", "1-0:32.7.0", "0-0:1.0.0")
    for obis in synth.varied(TEMPLATE):
        assert len({p1.cosem_values(t)[obis][0] for t in seq}) == 50, obis
    for t in seq:
        assert p1.split_telegrams(t) == [t]  # whole, with a CRC that checks
    # Literal values: the 4th telegram (index 3) of the SX631 sequence.
    values = p1.cosem_values(seq[3])
    assert [values[o][0] for o in synth.varied(TEMPLATE)] == [b"000812.424*kWh", b"000470.114*kWh", b"234.3*V",
                                                              b"230817171500S"]


def test_a_correct_bridge_after_an_outage_has_no_problems():
    played = _played(6)
    seen = Seen([m for k in (0, 1, 4, 5) for m in _published(k, k + 0.3)])
    assert scenario.recovery_problems(seen, TEMPLATE, played, since=3.5, timeout=2.0) == []
    assert scenario.value_problems(seen, TEMPLATE, played, BASE, outage=(1.5, 3.5), within=2.0) == []


def test_a_topic_that_comes_back_with_an_old_value_is_not_recovered():
    played = _played(10)
    old = scenario.oracle(TEMPLATE, 1)[VOLTAGE]
    msgs = [m for k in (0, 1) for m in _published(k, k + 0.3)]
    msgs += [m for k in range(4, 10) for m in _published(k, k + 0.3, **{VOLTAGE: old})]
    problems = scenario.recovery_problems(Seen(msgs), TEMPLATE, played, since=3.5, timeout=2.0)
    # Literal: telegram 6 (index 5) began at 5.0 s; its L1 voltage is 234.0 V + 5 x 0.1 V.
    assert problems == [
        "1 topic(s) without a current value within 2.0 s (the value of a telegram begun by then and not older "
        f"than one that had ended 1 s before): {VOLTAGE}: last '{old}' at +1.8 s (telegram 6, the newest "
        "begun, holds 234.5)"]
    # Past the outage and the time allowed to recover, telegrams 7-10 reached
    # no subscriber with their own voltage (5 and 6 are excused: they ended
    # before the bridge had to be back).
    assert scenario.value_problems(Seen(msgs), TEMPLATE, played, BASE, outage=(1.5, 3.5), within=2.0) == [
        f"{VOLTAGE}: telegrams 7–10 lost: nothing published for them (they ended between 6.2 and 9.2 s), "
        "nor for a newer telegram within 5 s"]


def test_a_topic_never_published_after_the_outage_is_named():
    played = _played(6)
    msgs = [m for k in (0, 4, 5) for m in _published(k, k + 0.3) if k == 0 or m.name != VOLTAGE]
    problems = scenario.recovery_problems(Seen(msgs), TEMPLATE, played, since=3.5, timeout=2.0)
    assert len(problems) == 1 and problems[0].endswith(f"): {VOLTAGE}: nothing published")


def _back_to_back(n: int) -> list[Played]:
    return [Played(k + 1, k, round(0.2 * k, 3), round(0.2 * k + 0.2, 3)) for k in range(n)]


def test_a_bridge_that_skips_to_newer_values_mid_telegram_has_recovered():
    # Back to back (0.2 s a telegram), a latest-value bridge takes each slot's
    # newest value as it gets to it: a round after the outage publishes the
    # voltage of telegram 17, then the marker of 19 (the bridge never names 17
    # nor 18 by their marker), the rest from 18. Each value is current.
    played = _back_to_back(30)
    mixed = [m for m in _published(16, 3.7) if m.name == VOLTAGE]
    mixed += [m for m in _published(18, 3.9) if m.name == synth.MARKER_TOPIC]
    mixed += [m for m in _published(17, 4.0) if m.name not in (VOLTAGE, synth.MARKER_TOPIC)]
    assert scenario.recovery_problems(Seen(mixed), TEMPLATE, played, since=3.5, timeout=5.0) == []
    # The same, with the voltage the bridge held from before the outage (telegram 2): not recovered.
    backlog = [m if m.name != VOLTAGE else Message(m.topic, _payload(scenario.oracle(TEMPLATE, 1)[VOLTAGE]), False, m.at)
               for m in mixed]
    problems = scenario.recovery_problems(Seen(backlog), TEMPLATE, played, since=3.5, timeout=5.0)
    assert len(problems) == 1 and f"{VOLTAGE}: last '234.1' at +0.2 s (telegram 19, the newest begun" in problems[0]
    # A voltage taken more than STALE_S (1 s) after a newer telegram had ended: stale, not recovered.
    late = [m if m.name != VOLTAGE else Message(m.topic, m.payload, False, 5.0) for m in mixed]
    assert scenario.recovery_problems(Seen(late), TEMPLATE, played, since=3.5, timeout=5.0) != []


def test_a_value_no_telegram_holds_is_named():
    played = _played(2)
    msgs = _published(0, 0.3) + _published(1, 1.3, frequency="49.5")
    problems = scenario.value_problems(Seen(msgs), TEMPLATE, played, BASE)
    assert problems == ["frequency: 1 value(s) that no telegram sent by then holds, e.g. '49.5' at 1.3 s "
                        f"(telegram 2, the newest begun, holds {scenario.oracle(TEMPLATE, 1)['frequency']})"]


def test_a_value_of_a_telegram_not_yet_sent_is_named():
    played = _played(3)
    early = scenario.oracle(TEMPLATE, 2)[VOLTAGE]
    msgs = _published(0, 0.3, **{VOLTAGE: early}) + _published(1, 1.3) + _published(2, 2.3)
    problems = scenario.value_problems(Seen(msgs), TEMPLATE, played, BASE)
    assert problems[0].startswith(f"{VOLTAGE}: 1 value(s) that no telegram sent by then holds, e.g. '{early}' at 0.3 s")


def test_a_backlog_on_a_varied_topic_is_stale():
    played = _played(6)
    msgs = [m for k in (0, 1, 2, 3, 4, 5) for m in _published(k, k + 0.3) if m.name != VOLTAGE]
    # The voltages of telegrams 1-6 held back and sent in order after the last one ended.
    msgs += [Message(f"p1/{VOLTAGE}", _payload(scenario.oracle(TEMPLATE, k)[VOLTAGE]), False, 5.5) for k in range(6)]
    problems = scenario.value_problems(Seen(msgs), TEMPLATE, played, BASE)
    assert any(p.startswith(f"{VOLTAGE}: telegrams 1–4 stale: published after a newer telegram had ended")
               for p in problems), problems


def test_a_marker_value_that_is_no_number_is_named_not_a_crash():
    # A bridge that lost bytes of the line published a garbled energy register:
    # the judge names it as a value no telegram holds, and the telegram as lost.
    played = _played(2)
    msgs = _published(0, 0.3) + _published(1, 1.3, **{synth.MARKER_TOPIC: "0008?2.424"})
    assert scenario.delivery(Seen(msgs), TEMPLATE, played, BASE) != []
    problems = scenario.value_problems(Seen(msgs), TEMPLATE, played, BASE)
    assert any(p.startswith(f"{synth.MARKER_TOPIC}: 1 value(s) that no telegram sent by then holds, e.g. '0008?2.424'")
               for p in problems), problems
