"""hil.oracle.outside: what the rig concludes from outside, on made-up observations
whose answer is known."""
from __future__ import annotations

from hil.p1 import synth
from hil.p1.captures import sx631
from hil.net.message import Message
from hil.oracle.outside import HeapTrace, Played, deliveries, delivery_problems, serial_events

TEMPLATE = sx631().data
SEQ = synth.sequence(TEMPLATE, 5)


def _marker(index: int) -> str:
    from hil.p1 import framing as p1
    raw = p1.cosem_values(SEQ[index])[synth.MARKER_OBIS][0]
    return raw.split(b"*")[0].decode()


def _msg(index: int, at: float, retain: bool = False) -> Message:
    return Message(f"p1/{synth.MARKER_TOPIC}", _marker(index).encode(), retain, at)


def _played(n: int, period: float = 1.0) -> list[Played]:
    # Telegram k (1-based) plays sequence index (k-1) % 5 from k*period to k*period + 0.2.
    return [Played(k, (k - 1) % 5, k * period, k * period + 0.2) for k in range(1, n + 1)]


def test_a_latest_value_bridge_is_complete_and_skipped_telegrams_are_lost_or_superseded():
    played = _played(10)
    msgs = [_msg((k - 1) % 5, k + 0.25) for k in (1, 9, 10)]
    found = deliveries(played, msgs, TEMPLATE)
    # Telegram 9 arrived at 9.25 s: within LATE_S of the ends of 5–8, too late for 2–4.
    assert [d.verdict for d in found] == ["complete"] + ["lost"] * 3 + ["superseded"] * 4 + ["complete"] * 2
    # Lost while the network was away (telegrams 2–4 ended at 2.2–4.2 s): excused.
    assert delivery_problems(found, t0=0.0, outage=(2.0, 8.0), within=1.0) == []
    problems = delivery_problems(found, t0=0.0)
    assert problems == ["telegrams 2–4 lost: nothing published for them (they ended between 2.2 and 4.2 s), "
                        "nor for a newer telegram within 5 s"]


def test_a_backlog_is_stale_even_when_the_index_repeats():
    played = _played(10)
    # Telegrams 4–8 held back and published at 9.5 s, in order, after telegram 9 had begun.
    msgs = [_msg((k - 1) % 5, k + 0.25) for k in (1, 2, 3)] + [_msg((k - 1) % 5, 9.5) for k in range(4, 9)]
    found = deliveries(played, msgs, TEMPLATE)
    verdicts = [d.verdict for d in found]
    # Telegram 4's value has telegram 9's index, and 9 had begun: it counts for 9
    # (on time), and 4 is lost; 5–7 arrive after newer telegrams had ended.
    assert verdicts == ["complete"] * 3 + ["lost"] + ["stale"] * 3 + ["complete", "complete", "lost"]
    text = delivery_problems(found, t0=0.0, outage=(2.0, 9.0), within=2.0)
    assert len(text) == 1 and text[0].startswith("telegrams 5–7 stale: published after a newer telegram had ended, "
                                                 "e.g. the values of telegram 5 published at 9.5 s, 1.3 s after "
                                                 "telegram 8 ended")
    # Telegram 5 ended 1.7 s after a network loss at 3.5 s: its values were on their way.
    assert delivery_problems(found, t0=0.0, outage=(3.5, 9.0), within=2.0)[0].startswith("telegrams 6–7 stale")
    assert "the bridge sent a backlog instead of the latest values" in text[0]


def test_values_in_flight_when_the_network_went_may_arrive_when_it_is_back():
    played = _played(10)
    # Telegram 4 ended at 4.2 s, just after the network went at 4.0 s: its value arrives at 8.9 s.
    msgs = [_msg(k - 1, k + 0.25) for k in (1, 2, 3)] + [_msg(3, 8.9), _msg(4, 10.3)]
    found = deliveries(played, msgs, TEMPLATE)
    assert found[3].verdict == "stale" and found[9].verdict == "complete"
    assert delivery_problems(found, t0=0.0, outage=(4.0, 8.5), within=1.0) == []
    problems = delivery_problems(found, t0=0.0)
    assert problems[0] == "telegram 5 lost: nothing published for it (it ended at 5.2 s), nor for a newer telegram within 5 s"
    assert problems[1].startswith("telegram 4 stale: ")
    # A backlog that ended well into the outage is not in flight.
    late = deliveries(played, [_msg(k - 1, k + 0.25) for k in (1, 2, 3)] + [_msg(4, 8.9)], TEMPLATE)
    assert "telegram 5 stale" in " ".join(delivery_problems(late, t0=0.0, outage=(2.0, 8.5), within=1.0))


def test_retained_values_and_values_from_before_the_playback_are_ignored():
    played = _played(3)
    msgs = [_msg(0, 0.5), _msg(1, 2.3, retain=True)]
    assert [d.verdict for d in deliveries(played, msgs, TEMPLATE)] == ["lost"] * 3


def test_serial_events_find_tracebacks_memoryerror_and_reboots():
    lines = ["p1seed: free 9000", "Traceback (most recent call last):", '  File "p1seed.py", line 40, in run',
             "MemoryError: memory allocation failed, allocating 1024 bytes", "\x00l\ufffd\ufffd|\x00\ufffd\x0c\ufffd\ufffd",
             "MPY: soft reboot", "ets Jan  8 2013,rst cause:2, boot mode:(3,6)", "bridge: ok"]
    events = serial_events(lines, [float(i) for i in range(len(lines))])
    assert [(e.at, e.kind) for e in events] == [(3.0, "traceback"), (3.0, "MemoryError"), (4.0, "reboot"),
                                                (5.0, "reboot"), (6.0, "reboot")]
    assert events[0].text.startswith("MemoryError: memory allocation failed")


def test_heap_trace_lowest_and_at_rest():
    trace = HeapTrace([(1.0, 9000, 15000, 3), (2.0, 8000, -1, 3), (3.0, 7000, 14000, 5), (9.0, 400, 300, 9)])
    assert trace.lowest() == (9.0, 300)
    assert trace.lowest(before=5.0) == (3.0, 14000)
    assert trace.at_rest(before=3.0) == 15000
    assert HeapTrace([(2.0, 8000, -1, 3)]).at_rest(before=3.0) == 8000  # no collection: free sampled


def test_a_value_resent_after_the_network_is_back_counts_for_the_telegram_it_was_sent_for():
    # Index 1 is played by telegrams 2 (ended 2.2 s, just after the network went
    # at 2.0 s) and 7 (ended 7.2 s, while it was away until 8.0 s). Its value
    # arriving at 9.5 s is telegram 2's, resent (mqtt_as resends an unacknowledged
    # QoS 1 publish), not telegram 7's a second after newer telegrams had ended.
    played = _played(10)
    msgs = [_msg(0, 1.25), _msg(1, 9.5), _msg(4, 10.25)]
    assert [d.verdict for d in deliveries(played, msgs, TEMPLATE)][6] == "stale"
    found = deliveries(played, msgs, TEMPLATE, outage=(2.0, 8.0), within=2.0)
    assert found[1].published == 9.5 and found[6].published is None
    assert delivery_problems(found, t0=0.0, outage=(2.0, 8.0), within=2.0) == []
