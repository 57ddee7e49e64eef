"""Helpers shared by the HIL tests."""
from __future__ import annotations

import pytest

from hil.verdict import explain


@pytest.fixture
def why(rig, broker):
    """why(problems) → failure text with the boards' and the broker's logs."""
    def _why(problems: list[str]) -> str:
        return explain(problems, *rig.evidence(),
                       (f"broker log ({broker.log_path})", broker.log_tail(15)))
    return _why


@pytest.fixture
def virtual_rig_stats(request, rig_kind):
    """() → framing errors the virtual line has counted; None on real boards."""
    if rig_kind != "sim":
        return lambda: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda: sim.control(cmd="stats")["line"]["framing_errors"]


@pytest.fixture
def telegram_end_times(request, rig_kind):
    """(sent) → host time each telegram's last byte left the line.

    On the virtual rig the line model reports it; on real boards the emulator's
    report of its last byte sent (read over USB) stands in, a few ms late."""
    if rig_kind != "sim":
        return lambda sent: [t.host_end for t in sent]
    sim = request.getfixturevalue("virtual_rig")

    def from_line(sent):
        bursts = sim.control(cmd="stats")["line"]["bursts"]
        return [end for _start, end, _n in bursts[-len(sent):]]
    return from_line


@pytest.fixture
def bridge_resets(request, rig_kind, rig):
    """() → how often the bridge has (re)started, as far as the rig can tell:
    the virtual board's reset list, or boot banners in a real board's log."""
    if rig_kind == "sim":
        sim = request.getfixturevalue("virtual_rig")
        return lambda: len(sim.control(cmd="stats")["resets"]["bridge"])
    return lambda: sum("p1 -> mqtt bridge" in line for line in rig.bridge.log.lines)


@pytest.fixture
def line_stats(request, rig_kind):
    """() → the virtual P1 line's counters (bytes, framing errors); None on real boards."""
    if rig_kind != "sim":
        return lambda: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda: sim.control(cmd="stats")["line"]


@pytest.fixture
def line_bursts(request, rig_kind):
    """(n) → the last n bursts on the virtual P1 line as [start, end, bytes]
    (host monotonic seconds); None on real boards."""
    if rig_kind != "sim":
        return lambda n: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda n: sim.control(cmd="stats")["line"]["bursts"][-n:]


@pytest.fixture
def wifi(request, rig_kind):
    """(up: bool) → switch the bridge's WiFi on the virtual rig; None on real boards."""
    if rig_kind != "sim":
        return None
    sim = request.getfixturevalue("virtual_rig")
    yield lambda up: sim.control(cmd="wifi", board="bridge", up=up)
    sim.control(cmd="wifi", board="bridge", up=True)
