"""The bridge frozen into the firmware image, the way bridge_firmware/README.md
tells a user to build it: the image built from bridge_firmware/manifest.py, only
main.py and config.json on the filesystem, the chip's heap. It must replay a
capture exactly as the .mpy deployment does."""
from __future__ import annotations

import json

import pytest

from hil.p1.captures import load_index
from hil.oracle.expected import expected_payloads
from hil.rig.deploy import Deploy
from hil.net.subscriber import Subscriber
from hil.rig.rig import BRIDGE_FIRMWARE
from hil.rig.session import BridgeSpec, RigSpec, open_rig
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from hil.oracle.verdict import compare
from hil.sim.clock import UNTIMED_SPEED

MODEL = board_model()


def replay_one_capture(rig, broker) -> None:
    """Play the first capture once; every value must reach MQTT as the oracle reads it."""
    capture = load_index()[0]
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        remote = rig.upload_capture(capture.file, capture.data)
        sent = rig.play([remote], interval_ms=0, count=1)
        expected = expected_payloads(capture.data)
        arrived = sub.wait_for_names(expected, timeout=15)
        result = compare(expected, sub.values(), times=1)
        assert len(sent) == 1 and arrived and result, result.problems


def heap_over_a_replay(rig, broker) -> tuple[int, int]:
    """(free after start-up, as the bridge logs it; lowest free over a replay, from
    its status JSON) of this project's bridge, brought up by open_rig."""
    started = int(rig.bridge.expect_line(r"^bridge: started, free (\d+)", timeout=5, since=0).group(1))
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        replay_one_capture(rig, broker)

        def counting(messages):
            return [json.loads(m.payload) for m in messages
                    if m.topic.endswith("/status") and json.loads(m.payload)["telegrams_ok"] >= 1]

        assert sub.wait_for(counting, timeout=70), "no status counting the replayed telegram within 70 s"
        return started, counting(sub.messages)[0]["heap_min_free"]


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: a frozen image needs the virtual ESP8266 build")
def test_frozen_bridge_replays_a_capture_at_the_chips_heap(tmp_path):
    manifest = (BRIDGE_FIRMWARE / "manifest.py").resolve()
    with open_rig(RigSpec(workdir=tmp_path, board_speed=UNTIMED_SPEED,
                          bridge=BridgeSpec(deploy=Deploy.FROZEN, manifest=manifest))) as session:
        rig, broker = session.rig, session.broker
        on_flash = sorted(p.name for p in session.sim.flash["bridge"].iterdir())
        assert on_flash == ["config.json", "main.py"], f"only main.py and config.json belong on the flash: {on_flash}"
        started = rig.bridge.expect_line(r"^bridge: started, free (\d+)", timeout=5)
        replay_one_capture(rig, broker)
        print(f"frozen bridge at {CHIP_FREE_AT_MAIN} B free at main.py: {started.group(1)} B free after start-up")
