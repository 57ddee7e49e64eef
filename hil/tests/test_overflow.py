"""Line-rate load and a stalled broker: the bridge keeps up, bounds its memory,
supersedes what it cannot publish, and recovers by itself.

Telegrams come from a sequence of 50 distinct telegrams (hil.synth): each
carries its index in positive_energy_total, so MQTT tells which one arrived.
"""
from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections import Counter

import pytest

from hil import synth
from hil.captures import load_index
from hil.oracle import expected_values
from hil.rig.board import BoardTimeout
from hil.verdict import compare

from . import scenario

CYCLE = 50  # distinct telegrams in the sequence file
LINE_TIME = 2405 * 10 / 115200  # seconds one SX631 telegram occupies the line
HEAP_FLAT_MAX = 512  # bytes the bridge's free heap may sink from the first to the last quarter of a run


@pytest.fixture(scope="module")
def sequence_file(rig):
    template = next(c for c in load_index() if c.file.startswith("sx631")).data
    telegrams = synth.sequence(template, CYCLE)
    return template, rig.upload_capture("sequence50.p1", b"".join(telegrams))


def _heap_creep(samples: list[dict]) -> str | None:
    """Free heap (after a collection) must be as high at the end of a run as
    at its start: a leak of a few bytes per telegram shows over many."""
    if len(samples) < 8:
        return None
    quarter = len(samples) // 4
    first = statistics.median(s["heap_free"] for s in samples[:quarter])
    last = statistics.median(s["heap_free"] for s in samples[-quarter:])
    if last < first - HEAP_FLAT_MAX:
        return (f"free heap sank from {first:.0f} B (median, first quarter of the run) to {last:.0f} B "
                f"(last quarter): more than {HEAP_FLAT_MAX} B, over {len(samples)} status samples")
    return None


def _back_to_back(rig, subscriber, why, sequence_file, bridge_resets, report_data, request, rounds: int,
                  heap_floor=None):
    template, remote = sequence_file
    base = scenario.baseline(rig, subscriber, why, bridge_resets)
    started = time.monotonic()

    sent = rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60)

    total = rounds * CYCLE
    marker = synth.MARKER_TOPIC
    subscriber.wait_for(lambda msgs: sum(m.name == marker and m.at > started for m in msgs) >= total, timeout=30)
    after = scenario.wait_status(subscriber, why, after=time.monotonic())
    scenario.report(report_data, request, subscriber)
    by_name = {name: [m for m in msgs if m.at > started] for name, msgs in subscriber.values().items()}
    problems = []
    seen = Counter(synth.index_of(template, m.text) for m in by_name.get(marker, []))
    if seen != Counter({i: rounds for i in range(CYCLE)}):
        missing = {i: rounds - seen[i] for i in range(CYCLE) if seen[i] != rounds}
        problems.append(f"{marker}: each of {CYCLE} telegrams should arrive {rounds} times; off: {missing}")
    expected = expected_values(template)
    del expected[marker]
    problems += compare(expected, by_name, times=total).problems
    # The bridge's own log, line by line: exact whatever the status timing.
    with contextlib.suppress(BoardTimeout):  # the count below says how many came
        rig.bridge.expect_lines(r"^bridge: telegram ok", total, timeout=10, since=base.log_mark)
    ok_lines = sum(line.startswith("bridge: telegram ok") for line in rig.bridge.log.lines[base.log_mark:])
    if ok_lines != total:
        problems.append(f"bridge logged {ok_lines} telegrams ok, emulator sent {total}")
    problems += scenario.health_problems(rig, base, after, bridge_resets, heap_floor)
    problems += scenario.counter_problems(base.status, after, len(sent), superseded=False)
    if after["superseded"] != base.status["superseded"]:
        problems.append(f"superseded rose from {base.status['superseded']} to {after['superseded']} "
                        "with a broker that keeps up: values were lost")
    creep = _heap_creep([s for at, s in scenario.statuses(subscriber, started)])
    if creep:
        problems.append(creep)
    assert not problems, why(problems + [f"status before: {base.status}", f"status after: {after}"])


def test_200_telegrams_back_to_back_all_published(rig, subscriber, why, sequence_file, bridge_resets,
                                                  report_data, request, heap_floor):
    _back_to_back(rig, subscriber, why, sequence_file, bridge_resets, report_data, request, rounds=4,
                  heap_floor=heap_floor)


@pytest.mark.long
@pytest.mark.soak
def test_soak_many_telegrams_back_to_back_heap_flat(rig, subscriber, why, sequence_file, bridge_resets,
                                                    report_data, request, pytestconfig, heap_floor):
    """The soak: --soak-telegrams (default 2000, ~7 min) at line rate, every
    one published, free heap as high at the end as at the start."""
    rounds = max(1, pytestconfig.getoption("--soak-telegrams") // CYCLE)
    _back_to_back(rig, subscriber, why, sequence_file, bridge_resets, report_data, request, rounds=rounds,
                  heap_floor=heap_floor)


def test_stalled_broker_bounded_supersedes_and_recovers(rig, subscriber, broker, why, sequence_file,
                                                        bridge_resets, report_data, request, heap_floor):
    """SIGSTOP the broker for 60 s while telegrams arrive back to back."""
    template, remote = sequence_file
    stall = 60.0
    base = scenario.baseline(rig, subscriber, why, bridge_resets)
    rounds = int((stall + 25) / (CYCLE * LINE_TIME)) + 1
    player_error: list[BaseException] = []
    sent = []
    started = time.monotonic()

    def play():
        try:
            sent.extend(rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60))
        except BaseException as e:  # noqa: B902 - reported by the test thread
            player_error.append(e)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC for m in msgs) >= 20, timeout=20)
    broker.pause()
    paused_at = time.monotonic()
    try:
        time.sleep(stall)  # the scenario: how long the broker stays stopped
    finally:
        broker.resume()
    resumed_at = time.monotonic()
    # The telegram on the line when the broker came back (line runs back to back).
    latest = int((resumed_at - started) / LINE_TIME) % CYCLE

    recovered = scenario.recovered(subscriber, template, resumed_at, timeout=5)
    player.join()
    after = scenario.status_counting(subscriber, base.status, len(sent), after=time.monotonic())
    assert after is not None, why(["no <base>/status message within 16 s of the line going idle"])
    scenario.report(report_data, request, subscriber, [(paused_at, "broker stopped (SIGSTOP)"),
                                                       (resumed_at, "broker resumed (SIGCONT)")])

    problems = []
    if player_error:
        problems.append(f"emulator playback failed: {player_error[0]}")
    if not recovered:
        problems.append("not every value was published within 5 s of the broker resuming")
    fresh = [synth.index_of(template, m.text) for m in subscriber.snapshot()
             if m.name == synth.MARKER_TOPIC and resumed_at <= m.at <= resumed_at + 5]
    if not any((i - latest) % CYCLE < CYCLE // 2 or (latest - i) % CYCLE <= 3 for i in fresh):
        problems.append(f"within 5 s of resuming only telegrams {fresh} arrived; the latest on the line was ~{latest}")
    stale = [m for m in subscriber.snapshot() if m.name == synth.MARKER_TOPIC and paused_at < m.at and m.at < resumed_at]
    if stale:
        problems.append(f"{len(stale)} values arrived while the broker was stopped (subscriber should see none)")
    problems += scenario.health_problems(rig, base, after, bridge_resets, heap_floor)
    problems += scenario.counter_problems(base.status, after, len(sent), superseded=True)
    assert not problems, why(problems + [f"status before: {base.status}", f"status after: {after}"])
