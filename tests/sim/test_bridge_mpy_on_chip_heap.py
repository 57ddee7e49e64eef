"""The bridge as .mpy files on the filesystem (--bridge-deploy mpy, for a firmware
without ROMFS) at the chip's heap: what a user gets, and how many bytes it misses.

At 35,000 B free at main.py the bridge's bytecode, strings and names join its
objects on the heap, and the application dies at start-up with MemoryError: the
test shows that. Then it measures what the bridge takes on a board with room to
spare: the heap it holds after start-up and at the lowest point of a replay.
What it holds does not depend on the board's heap (the GC threshold is the chip's
on every virtual board), so one run gives what would be left at the chip's heap,
and how far that falls short of the targets the ROMFS and frozen bridges meet
(hil.rig.deploy: 12 KB free after start-up, 8 KB at the lowest). No search over
heap sizes, whose outcome near the edge depends on fragmentation.

hil.rig.deploy.MPY_SHORTFALL holds the figure that `hil deploy --bridge-deploy mpy`
warns with and the READMEs quote; the test fails when the bridge moves it by more
than 1 KB, so that they get updated.
"""
from __future__ import annotations

import pytest

from hil.rig.deploy import AFTER_START_UP_TARGET, MPY_SHORTFALL, Deploy
from hil.rig.session import BridgeSpec, RigSpec, open_rig
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from hil.sim.clock import UNTIMED_SPEED
from test_bridge_frozen import heap_over_a_replay

MODEL = board_model()
ROOMY = 48_000  # free at main.py where the .mpy bridge runs with room to spare
TOLERANCE = 1024


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its heap says nothing about the chip")
def test_mpy_bridge_dies_at_the_chips_heap_and_the_shortfall_is_measured(tmp_path):
    with open_rig(RigSpec(workdir=tmp_path / "chip", board_speed=UNTIMED_SPEED,
                          bridge=BridgeSpec(deploy=Deploy.MPY, wait_connected=False))) as session:
        crash = session.rig.bridge.expect_line(r"^bridge: application crashed: (MemoryError.*)", timeout=20, since=0)
    with open_rig(RigSpec(workdir=tmp_path / "roomy", board_speed=UNTIMED_SPEED,
                          bridge=BridgeSpec(deploy=Deploy.MPY, free_at_main=ROOMY))) as session:
        started, lowest = heap_over_a_replay(session.rig, session.broker)
    held_after_start_up, held_at_lowest = ROOMY - started, ROOMY - lowest
    left_after_start_up = CHIP_FREE_AT_MAIN - held_after_start_up
    left_at_lowest = CHIP_FREE_AT_MAIN - held_at_lowest
    shortfall = max(AFTER_START_UP_TARGET - left_after_start_up, Deploy.MPY.heap_floor - left_at_lowest)
    print(f".mpy bridge at the chip's {CHIP_FREE_AT_MAIN:,} B free at main.py: {crash.group(1)}; "
          f"it holds {held_after_start_up:,} B after start-up and {held_at_lowest:,} B at the lowest of a replay "
          f"(measured at {ROOMY:,} B: {started:,} B and {lowest:,} B free), which would leave "
          f"{left_after_start_up:,} B and {left_at_lowest:,} B at the chip's heap: {shortfall:,} B short of "
          f"{AFTER_START_UP_TARGET:,} B after start-up and {Deploy.MPY.heap_floor:,} B at the lowest")
    assert shortfall > 0, f"the bridge misses nothing ({shortfall:,} B), yet it died at start-up: {crash.group(0)}"
    assert abs(shortfall - MPY_SHORTFALL) <= TOLERANCE, (
        f"the .mpy bridge is {shortfall:,} B short now, not about {MPY_SHORTFALL:,} B: put the new figure into "
        "hil/rig/deploy.py (MPY_SHORTFALL), README.md and bridge_firmware/README.md")
