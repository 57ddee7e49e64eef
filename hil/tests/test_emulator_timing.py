"""Emulator timing: a fixed schedule that does not drift, and a busy line
when playing back to back. Times are taken from the P1 line model (the host's
clock) on the virtual rig, and from the emulator's own tick records."""
from __future__ import annotations

import time

import pytest

from ..p1.captures import sx631

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # the emulator's pacing on the line

TELEGRAMS = 30
# The meter's 10 s interval, accelerated 10x: the emulator's scheduling code is
# the same whatever the interval.
INTERVAL_MS = 1000


@pytest.fixture(scope="module")
def sx631_remote(rig):
    cap = sx631()
    return cap, rig.upload_capture("timing.p1", cap.data)


def test_interval_schedule_does_not_drift(rig, why, sx631_remote, line_telegrams, rig_kind):
    cap, remote = sx631_remote
    sent = rig.play([remote], interval_ms=INTERVAL_MS, count=TELEGRAMS)
    assert len(sent) == TELEGRAMS
    board_drift = [s.board_start - sent[0].board_start - i * INTERVAL_MS for i, s in enumerate(sent)]
    problems = []
    if max(map(abs, board_drift)) >= 50:
        problems.append(f"emulator start ticks drift {board_drift} ms")
    spans = line_telegrams(sent)
    if spans is None and rig_kind == "sim":
        problems.append("the virtual line's bursts do not add up to the telegrams the emulator sent")
    if spans is not None:
        starts = [start for start, _end in spans]
        line_drift = [round((t - starts[0] - i * INTERVAL_MS / 1000) * 1000, 1) for i, t in enumerate(starts)]
        if max(map(abs, line_drift)) >= 50:
            problems.append(f"telegram start times on the line drift {line_drift} ms")
        print(f"start-time drift over {TELEGRAMS} telegrams on the line: max {max(map(abs, line_drift))} ms")
    assert not problems, why(problems)


def test_back_to_back_keeps_the_line_busy(rig, why, sx631_remote, line_bursts):
    cap, remote = sx631_remote
    count = 20
    began = time.monotonic()
    sent = rig.play([remote], interval_ms=0, count=count)
    assert sum(s.nbytes for s in sent) == count * len(cap.data)
    # A telegram the emulator sends late comes as several bursts: take enough to
    # cover all of them, then only this play's.
    bursts = line_bursts(4 * count)
    if bursts is None:
        pytest.skip("line occupancy is measured by the virtual line model")
    bursts = [b for b in bursts if b[0] >= began]
    start, end, nbytes = bursts[0][0], bursts[-1][1], sum(b[2] for b in bursts)
    busy = nbytes * 10 / 115200 / (end - start)
    print(f"back to back: {nbytes} bytes in {end - start:.3f} s, line {busy:.1%} busy "
          f"({len(bursts)} bursts, longest gap {max((b[0] - a[1] for a, b in zip(bursts, bursts[1:])), default=0) * 1000:.1f} ms)")
    assert nbytes == count * len(cap.data) and busy >= 0.95, why([f"line {busy:.1%} busy over {nbytes} bytes"])
