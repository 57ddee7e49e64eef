"""The bridge as .mpy files in the ROMFS partition, the way bridge_firmware/README.md
tells a user with the ESP8266_GENERIC FLASH_2M_ROMFS firmware to deploy it: the
modules written with vfs.rom_ioctl (what `mpremote romfs deploy` does), only
main.py and config.json on the filesystem, the chip's heap. The bytecode runs in
place, so the .mpy deployment's heap targets hold: at least 12 KB free after
start-up, at least 8 KB after a replay (the scenarios, run with --bridge-romfs,
hold the lowest point to 8 KB)."""
from __future__ import annotations

import json

import pytest

from hil.rig.mqtt import Subscriber
from hil.rig.session import RigSpec, open_rig
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from test_bridge_frozen import replay_one_capture

MODEL = board_model()
AFTER_START_UP = 12 * 1024
LOWEST = 8 * 1024


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its heap says nothing about the chip")
def test_romfs_bridge_meets_the_mpy_heap_targets_at_the_chips_heap(tmp_path):
    with open_rig(RigSpec(workdir=tmp_path, bridge_free_at_main=CHIP_FREE_AT_MAIN, bridge_romfs=True)) as session:
        rig, broker = session.rig, session.broker
        on_flash = sorted(p.name for p in rig.sim.flash["bridge"].iterdir())
        assert on_flash == ["config.json", "main.py"], f"the modules belong in ROMFS, not on the flash: {on_flash}"
        started = int(rig.bridge.expect_line(r"^bridge: started, free (\d+)", timeout=5).group(1))
        with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
            replay_one_capture(rig, broker)

            def counting(messages):
                return [json.loads(m.payload) for m in messages
                        if m.topic.endswith("/status") and json.loads(m.payload)["telegrams_ok"] >= 1]

            assert sub.wait_for(counting, timeout=70), "no status counting the replayed telegram within 70 s"
            lowest = counting(sub.messages)[0]["heap_min_free"]
        print(f"ROMFS bridge at {CHIP_FREE_AT_MAIN:,} B free at main.py: {started:,} B after start-up, "
              f"{lowest:,} B lowest over a replay")
        assert started >= AFTER_START_UP, f"{started:,} B free after start-up; the target is {AFTER_START_UP:,} B"
        assert lowest >= LOWEST, f"{lowest:,} B free at the lowest; the target is {LOWEST:,} B"
