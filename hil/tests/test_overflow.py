"""Line-rate load and a stalled broker: the bridge keeps up, bounds its memory,
supersedes what it cannot publish, and recovers by itself. Judged from outside
(hil/tests/scenario.py): any bridge can be put through them.

Telegrams come from a sequence of 50 distinct telegrams (hil.p1.synth): each
carries its index in positive_energy_total, so MQTT tells which one arrived,
and its own tariff register, L1 voltage and clock, so each of those values is
held to the oracle's for its telegram too.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

import pytest

from ..p1 import synth
from ..p1.captures import sx631
from ..oracle.verdict import compare

from . import scenario

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # back-to-back telegrams, a stalled broker: timing and heap under load

CYCLE = 50  # distinct telegrams in the sequence file
LINE_TIME = 2405 * 10 / 115200  # seconds one SX631 telegram occupies the line
HEAP_FLAT_MAX = 512  # bytes the bridge's free heap may sink from the first to the last quarter of a run
HEAP_SAMPLES_MIN = 8  # two in each quarter of the run
RECOVERY_S = 5  # every value published again within this time of the broker resuming


@pytest.fixture(scope="module")
def sequence_file(rig):
    template = sx631().data
    telegrams = synth.sequence(template, CYCLE)
    return template, rig.upload_capture("sequence50.p1", b"".join(telegrams))


def _heap_creep(base: scenario.Baseline, bridge_board, subscriber) -> str | None:
    """Free heap must be as high at the end of a run as at its start: a leak
    of a few bytes per telegram shows over many. Read from the board's own
    samples after collections (virtual board), else from the bridge's status."""
    trace = bridge_board.heap(after=base.t0)
    if trace is not None:
        samples = [low for _t, _free, low, _n in trace.samples if low >= 0]
        what = "board heap samples after collections"
    else:
        samples = [st["heap_free"] for _at, st in scenario.statuses(subscriber, base.t0)]
        what = "status samples"
    if len(samples) < HEAP_SAMPLES_MIN:
        # Too few to compare a first quarter with a last: a creep would go unseen, so say so.
        return (f"heap creep not judged: {len(samples)} {what} during the run, at least {HEAP_SAMPLES_MIN} "
                "needed to compare its first quarter with its last")
    quarter = len(samples) // 4
    first = statistics.median(samples[:quarter])
    last = statistics.median(samples[-quarter:])
    if last < first - HEAP_FLAT_MAX:
        return (f"free heap sank from {first:.0f} B (median, first quarter of the run) to {last:.0f} B "
                f"(last quarter): more than {HEAP_FLAT_MAX} B, over {len(samples)} {what}")
    return None


def _back_to_back(rig, subscriber, why, sequence_file, bridge_board, report_data, request, rounds: int,
                  line_telegrams, expect, heap_drop_max, chip_speed, heap_floor=None):
    """Telegrams back to back at line rate. At the host's speed every one is
    published. At the chip's, a bridge busy with one telegram's values when the
    next is committed may skip the rest for the newer ones (superseded, the
    design): then no telegram may be lost, late or stale (the outside
    judgement), each value that goes out must be right, and the line itself
    must lose nothing (no CRC error: the UART ring kept up)."""
    template, remote = sequence_file
    base = scenario.baseline(rig, subscriber, bridge_board)

    sent = rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60)

    total = rounds * CYCLE
    marker = synth.MARKER_TOPIC
    subscriber.wait_for(lambda msgs: sum(m.name == marker and m.at > base.t0 for m in msgs) >= total, timeout=30)
    after = (scenario.status_counting(subscriber, base.status, len(sent), after=time.monotonic())
             if base.status else None)
    scenario.report(report_data, request, subscriber)
    by_name = {name: [m for m in msgs if m.at > base.t0] for name, msgs in subscriber.values().items()}
    played = scenario.played(template, sent, line_telegrams(sent))
    problems = scenario.delivery(subscriber, template, played, base)
    seen = Counter(synth.index_of(template, m.text) for m in by_name.get(marker, []))
    off = {i: rounds - seen[i] for i in range(CYCLE) if seen[i] > rounds or not chip_speed and seen[i] != rounds}
    if off:
        problems.append(f"{marker}: each of {CYCLE} telegrams should arrive {rounds} times"
                        f"{' at most' if chip_speed else ''}; off: {off}")
    if chip_speed:
        # Values may be superseded: each that went out must be a telegram's it
        # names, none stale (a skipped message would shift compare()'s count).
        problems += scenario.value_problems(subscriber, template, played, base, expect)
        varied = scenario.varied_topics(template, expect)
        same = {k: v for k, v in scenario.oracle(template, 0, expect).items() if k not in varied}
        problems += compare(same, by_name, times=total, superseded_ok=True).problems
    else:
        # Telegram k's values arrive k-th: the sequence, played `rounds` times.
        expected = [scenario.oracle(template, i, expect) for i in range(CYCLE)]
        for values in expected:
            del values[marker]
        problems += compare(expected, by_name, times=rounds).problems
    problems += scenario.health_problems(rig, base, bridge_board, heap_floor, status_after=after,
                                         drop_max=heap_drop_max)
    problems += scenario.status_problems(base, after, len(sent), superseded=None if chip_speed else False)
    creep = _heap_creep(base, bridge_board, subscriber)
    if creep:
        problems.append(creep)
    scenario.figures(request, base, bridge_board)
    assert not problems, why(problems + scenario.status_lines(base, after))


def test_200_telegrams_back_to_back_all_published(rig, subscriber, why, sequence_file, bridge_board,
                                                  report_data, request, heap_floor, line_telegrams, expect,
                                                  heap_drop_max, chip_speed):
    _back_to_back(rig, subscriber, why, sequence_file, bridge_board, report_data, request, rounds=4,
                  line_telegrams=line_telegrams, expect=expect, heap_drop_max=heap_drop_max,
                  chip_speed=chip_speed, heap_floor=heap_floor)


@pytest.mark.long
@pytest.mark.soak
def test_soak_many_telegrams_back_to_back_heap_flat(rig, subscriber, why, sequence_file, bridge_board,
                                                    report_data, request, pytestconfig, heap_floor,
                                                    line_telegrams, expect, heap_drop_max, chip_speed):
    """The soak: --soak-telegrams (default 2000, ~7 min) at line rate, every
    one published, free heap as high at the end as at the start."""
    rounds = max(1, pytestconfig.getoption("--soak-telegrams") // CYCLE)
    _back_to_back(rig, subscriber, why, sequence_file, bridge_board, report_data, request, rounds=rounds,
                  line_telegrams=line_telegrams, expect=expect, heap_drop_max=heap_drop_max,
                  chip_speed=chip_speed, heap_floor=heap_floor)


def test_stalled_broker_bounded_supersedes_and_recovers(rig, subscriber, broker, why, sequence_file,
                                                        bridge_board, report_data, request, heap_floor,
                                                        line_telegrams, expect, heap_drop_max):
    """SIGSTOP the broker for 60 s while telegrams arrive back to back."""
    template, remote = sequence_file
    stall = 60.0
    base = scenario.baseline(rig, subscriber, bridge_board)
    rounds = int((stall + 25) / (CYCLE * LINE_TIME)) + 1
    player_error: list[BaseException] = []
    sent = []

    def play():
        try:
            sent.extend(rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60))
        except BaseException as e:  # noqa: B902 - reported by the test thread
            player_error.append(e)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC and m.at > base.t0 for m in msgs) >= 20,
                        timeout=20)
    broker.pause()
    paused_at = time.monotonic()
    try:
        time.sleep(stall)  # the scenario: how long the broker stays stopped
    finally:
        broker.resume()
    resumed_at = time.monotonic()

    player.join()
    after = (scenario.status_counting(subscriber, base.status, len(sent), after=time.monotonic())
             if base.status else None)
    scenario.report(report_data, request, subscriber, [(paused_at, "broker stopped (SIGSTOP)"),
                                                       (resumed_at, "broker resumed (SIGCONT)")])

    problems = []
    if player_error:
        problems.append(f"emulator playback failed: {player_error[0]}")
    # Telegrams that ended while the broker was stopped may be superseded;
    # every other one must arrive, none stale (hil.oracle.outside.delivery_problems).
    played = scenario.played(template, sent, line_telegrams(sent))
    for problem in scenario.recovery_problems(subscriber, template, played, resumed_at, RECOVERY_S, expect):
        problems.append(f"not every value was published within {RECOVERY_S} s of the broker resuming "
                        f"at {resumed_at - base.t0:.1f} s: {problem}")
    problems += scenario.delivery(subscriber, template, played, base, outage=(paused_at, resumed_at),
                                  within=RECOVERY_S)
    problems += scenario.value_problems(subscriber, template, played, base, expect,
                                        outage=(paused_at, resumed_at), within=RECOVERY_S)
    crossed = [m for m in subscriber.snapshot() if m.name == synth.MARKER_TOPIC and paused_at + 0.5 < m.at < resumed_at]
    if crossed:
        problems.append(f"{len(crossed)} values arrived while the broker was stopped (subscriber should see none)")
    problems += scenario.health_problems(rig, base, bridge_board, heap_floor, status_after=after,
                                         drop_max=heap_drop_max)
    problems += scenario.status_problems(base, after, len(sent), superseded=True)
    scenario.figures(request, base, bridge_board)
    assert not problems, why(problems + scenario.status_lines(base, after))
