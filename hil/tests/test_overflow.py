"""Line-rate load and a stalled broker: the bridge keeps up, bounds its memory,
supersedes what it cannot publish, and recovers by itself.

Telegrams come from a sequence of 50 distinct telegrams (hil.synth): each
carries its index in positive_energy_total, so MQTT tells which one arrived.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter

import pytest

from hil import synth
from hil.captures import load_index
from hil.oracle import expected_values
from hil.rig.board import BoardTimeout
from hil.verdict import compare

CYCLE = 50  # distinct telegrams in the sequence file
LINE_TIME = 2405 * 10 / 115200  # seconds one SX631 telegram occupies the line


@pytest.fixture(scope="module")
def sequence_file(rig):
    template = next(c for c in load_index() if c.file.startswith("sx631")).data
    telegrams = synth.sequence(template, CYCLE)
    return template, rig.upload_capture("sequence50.p1", b"".join(telegrams))


def _statuses(subscriber) -> list[tuple[float, dict]]:
    return [(m.at, json.loads(m.payload)) for m in subscriber.snapshot() if m.name == "status"]


def _wait_status(subscriber, why, after: float, timeout: float = 15) -> dict:
    ok = subscriber.wait_for(lambda msgs: any(m.name == "status" and m.at > after for m in msgs), timeout)
    assert ok, why([f"no <base>/status message within {timeout} s"])
    return [s for at, s in _statuses(subscriber) if at > after][-1]


def _report(report_data, request, subscriber, events=()):
    tid = request.node.nodeid
    for at, status in _statuses(subscriber):
        report_data.add_status(tid, at, status)
    for at, text in events:
        report_data.add_event(tid, at, text)


def test_1000_telegrams_back_to_back_all_published(rig, subscriber, why, sequence_file, report_data, request):
    template, remote = sequence_file
    rounds = 20
    since = rig.bridge.mark()
    # A status published from now on: the line is idle, so its counters are current.
    before = _wait_status(subscriber, why, after=time.monotonic())

    rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60)

    total = rounds * CYCLE
    marker = synth.MARKER_TOPIC
    subscriber.wait_for(lambda msgs: sum(m.name == marker for m in msgs) >= total, timeout=30)
    after = _wait_status(subscriber, why, after=time.monotonic())
    _report(report_data, request, subscriber)
    by_name = subscriber.values()
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
        rig.bridge.expect_lines(r"^bridge: telegram ok", total, timeout=10, since=since)
    ok_lines = sum(line.startswith("bridge: telegram ok") for line in rig.bridge.log.lines[since:])
    if ok_lines != total:
        problems.append(f"bridge logged {ok_lines} telegrams ok, emulator sent {total}")
    crashes = [line for line in rig.bridge.log.lines[since:] if "application crashed" in line]
    if crashes:
        problems.append(f"the bridge's application failed {len(crashes)} time(s), first: {crashes[0]!r}")
    for counter in ("crc_errors", "superseded"):
        if after[counter] != before[counter]:
            problems.append(f"{counter} rose from {before[counter]} to {after[counter]} on a clean line")
    assert not problems, why(problems + [f"status before: {before}", f"status after: {after}"])


def test_stalled_broker_bounded_supersedes_and_recovers(rig, subscriber, broker, why, sequence_file,
                                                        bridge_resets, report_data, request):
    """SIGSTOP the broker for 60 s while telegrams arrive back to back."""
    template, remote = sequence_file
    stall = 60.0
    since = rig.bridge.mark()
    # A status published from now on: the line is idle, so its counters are current.
    before = _wait_status(subscriber, why, after=time.monotonic())
    resets_before = bridge_resets()
    rounds = int((stall + 25) / (CYCLE * LINE_TIME)) + 1
    player_error: list[BaseException] = []
    started = time.monotonic()

    def play():
        try:
            rig.play([remote], interval_ms=0, count=rounds, timeout=rounds * CYCLE * LINE_TIME + 60)
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

    recovered = subscriber.wait_for(
        lambda msgs: {m.name for m in msgs if m.at >= resumed_at and not m.retain} >= set(expected_values(template)),
        timeout=5)
    player.join()
    after = _wait_status(subscriber, why, after=resumed_at)
    _report(report_data, request, subscriber, [(paused_at, "broker stopped (SIGSTOP)"),
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
    if after["superseded"] <= before["superseded"]:
        problems.append(f"superseded stayed at {after['superseded']}: the bridge cannot have kept every telegram")
    if bridge_resets() != resets_before or after["uptime_s"] < before["uptime_s"]:
        problems.append(f"the bridge rebooted (resets {resets_before} → {bridge_resets()}, "
                        f"uptime {before['uptime_s']} → {after['uptime_s']})")
    crashes = [line for line in rig.bridge.log.lines[since:] if "application crashed" in line]
    if crashes:
        problems.append(f"the bridge's application failed {len(crashes)} time(s), first: {crashes[0]!r}")
    if after["heap_min_free"] < 0.5 * before["heap_free"]:
        problems.append(f"heap not bounded: min free {after['heap_min_free']} B vs {before['heap_free']} B free before")
    assert not problems, why(problems + [f"status before: {before}", f"status after: {after}"])
