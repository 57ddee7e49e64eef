"""Replay fidelity: every value of every capture reaches MQTT exactly as the
independent oracle (dsmr-parser) reads it from the same bytes; the fields the
oracle does not parse, as the capture's text says (hil.expected). --expect
contract holds the bridge to the compatibility contract's names only.

Judged from outside (emulator, subscriber, the bridge's serial output), so any
bridge that keeps docs/bring-your-own-bridge.md can be replayed."""
from __future__ import annotations

import statistics

import pytest

from hil.captures import load_index
from hil.expected import expected_payloads
from hil.verdict import compare

REPEATS = 3


@pytest.mark.parametrize("capture", load_index(), ids=lambda c: c.file)
def test_each_capture_replayed_three_times_matches_oracle(rig, subscriber, why, capture, record_property,
                                                          telegram_end_times, rig_kind, expect):
    expected = expected_payloads(capture.data, expect)
    remote = rig.upload_capture(capture.file, capture.data)
    since = rig.bridge.mark()

    sent = rig.play([remote], interval_ms=1000, count=REPEATS)

    assert len(sent) == REPEATS, why([f"emulator reported {len(sent)} telegrams sent, expected {REPEATS}"])
    arrived = subscriber.wait_for(
        lambda msgs: all(sum(m.name == n and not m.retain for m in msgs) >= REPEATS for n in expected), timeout=15)
    by_name = subscriber.values()
    result = compare(expected, by_name, times=REPEATS)
    assert arrived and result, why(result.problems or ["values did not all arrive within 15 s"])
    extra = [line for line in rig.bridge.log.lines[since:] if "crc error" in line or "truncated" in line]
    assert not extra, why([f"bridge reported bad telegrams on a clean replay: {extra}"])

    # End-to-end latency: emulator's last byte out → last value of that telegram at the subscriber.
    latencies = []
    for i, end in enumerate(telegram_end_times(sent)):
        last = max(by_name[name][i].at for name in expected)
        latencies.append(last - end)
    record_property("latency_ms", [round(x * 1000, 1) for x in latencies])
    print(f"{capture.file}: end of telegram → last value at subscriber: "
          f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    # On real boards the end time is when the emulator's report arrived over
    # USB, which may come after the values: only the upper bound holds there.
    lower = 0 if rig_kind == "sim" else -1
    assert all(lower < x < 5 for x in latencies), why([f"latencies out of range: {latencies}"])
