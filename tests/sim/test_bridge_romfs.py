"""The bridge as .mpy files in the ROMFS partition, the way bridge_firmware/README.md
tells a user with the ESP8266_GENERIC FLASH_2M_ROMFS firmware to deploy it (the
rig's default, --bridge-deploy romfs): the modules written with vfs.rom_ioctl (what
`mpremote romfs deploy` does), only main.py and config.json on the filesystem, the
chip's heap. The bytecode runs in place, so the heap targets hold: at least 12 KB
free after start-up, at least 8 KB after a replay (the scenarios hold the lowest
point to the same 8 KB)."""
from __future__ import annotations

import pytest

from hil.rig.deploy import AFTER_START_UP_TARGET, Deploy
from hil.rig.session import BridgeSpec, RigSpec, open_rig
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from hil.sim.clock import UNTIMED_SPEED
from test_bridge_frozen import heap_over_a_replay

MODEL = board_model()


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: it has no ROMFS, and its heap says nothing "
                                               "about the chip")
def test_romfs_bridge_meets_the_heap_targets_at_the_chips_heap(tmp_path):
    with open_rig(RigSpec(workdir=tmp_path, board_speed=UNTIMED_SPEED, bridge=BridgeSpec(deploy=Deploy.ROMFS))) as session:
        rig, broker = session.rig, session.broker
        on_flash = sorted(p.name for p in session.sim.flash["bridge"].iterdir())
        assert on_flash == ["config.json", "main.py"], f"the modules belong in ROMFS, not on the flash: {on_flash}"
        started, lowest = heap_over_a_replay(rig, broker)
        print(f"ROMFS bridge at {CHIP_FREE_AT_MAIN:,} B free at main.py: {started:,} B after start-up, "
              f"{lowest:,} B lowest over a replay")
        assert started >= AFTER_START_UP_TARGET, (f"{started:,} B free after start-up; the target is "
                                                  f"{AFTER_START_UP_TARGET:,} B")
        floor = Deploy.ROMFS.heap_floor
        assert lowest >= floor, f"{lowest:,} B free at the lowest; the target is {floor:,} B"
