"""The bridge ends what would otherwise hang or loop forever on a board in the
meter cupboard: a blocked event loop (the watchdog resets the board) and an
application that crashes at every start (a hard reset after a few in a row).

Each test runs the production bridge with one module swapped for a broken one,
on its own virtual rig, and reads the board's serial log from outside.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from hil.net.broker import Mosquitto
from hil.rig.board import Board
from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY
from hil.rig.rig import BRIDGE_FIRMWARE, BrokerAccess, Rig
from hil.sim.model import board_model
from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED

MODEL = board_model()

HUNG_CLIENT = '''\
# Test variant: the MQTT task blocks the event loop for good (a hung driver).
import time
from mqtt_min import MQTTClient


class Hung(MQTTClient):
    async def run(self):
        self._say("test variant: MQTT task blocks the event loop")
        while True:
            time.sleep_ms(100)


def make_client(cfg, log, will_topic, pktbuf=400):
    m = cfg["mqtt"]
    return Hung(m["host"].encode(), m["port"], log=log)
'''

NO_CLIENT = '''\
# Test variant: the application cannot start at all.
def make_client(cfg, log, will_topic, pktbuf=400):
    raise RuntimeError("test variant: no MQTT client")
'''


@pytest.fixture
def bridge_with(tmp_path):
    """bridge_with(module source) deploys the bridge with mqtt_backend.py
    replaced on a fresh virtual rig and returns its Board (log running)."""
    with tempfile.TemporaryDirectory() as work, Mosquitto(workdir=Path(work) / "broker") as broker, \
            VirtualRig(Path(work) / "sim", board_speed=UNTIMED_SPEED) as sim:
        boards = [Board(role, sim.ports[role], tmp_path / f"{role}.log").open() for role in ("emulator", "bridge")]
        rig = Rig(*boards, BrokerAccess(broker.host, broker.port, broker.user, broker.password),
                  base_topic="hardening", build_dir=Path(work) / "build",
                  reset_bridge=lambda: sim.reset("bridge"))

        def deploy(source: str | None = None, config: dict | None = None) -> Board:
            firmware = BRIDGE_FIRMWARE
            if source is not None:
                firmware = tmp_path / "firmware"
                shutil.copytree(BRIDGE_FIRMWARE, firmware)
                (firmware / "mqtt_backend.py").write_text(source)
            # A broken variant never connects (that is the point): its test reads the log.
            rig.deploy_bridge(firmware=firmware, config=config, wait_connected=source is None,
                              deploy=MODEL.takes(DEFAULT_DEPLOY))
            return rig.bridge

        deploy.rig = rig
        deploy.broker = broker
        yield deploy
        rig.close()


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its watchdog never expires")
def test_a_blocked_event_loop_is_reset_by_the_watchdog(bridge_with):
    bridge = bridge_with(HUNG_CLIENT)
    bridge.expect_line(r"^bridge: test variant: MQTT task blocks the event loop", timeout=20)
    # REASON_SOFT_WDT_RST, about 3.2 s after the last feed.
    bridge.expect_line(r"^bridge: p1 -> mqtt bridge .* reset cause 3 \(software watchdog\)", timeout=15)


@pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: machine.reset() cannot leave a running board there")
def test_an_application_that_crashes_at_every_start_ends_in_a_reset(bridge_with):
    bridge = bridge_with(NO_CLIENT)
    crashes = bridge.expect_lines(r"^bridge: application crashed: RuntimeError test variant: no MQTT client",
                                  count=4, timeout=40, since=0)
    assert len(crashes) == 4
    bridge.expect_line(r"^bridge: application crashed 5 times in a row, last: RuntimeError .*; resetting the board",
                       timeout=15, since=0)
    bridge.expect_line(r"^bridge: p1 -> mqtt bridge .* reset cause 4 \(soft restart\)", timeout=15, since=0)


def test_the_default_client_id_is_the_boards_own(bridge_with):
    # Two bridges with one MQTT client id would throw each other off the broker.
    chip = bridge_with.rig.bridge.eval("__import__('machine').unique_id()")
    cfg = bridge_with.rig.bridge_config()
    del cfg["mqtt"]["client_id"]
    bridge_with(config=cfg)
    want = "p1bridge-" + chip.hex()
    assert f" as {want} " in bridge_with.broker.log_tail(200), bridge_with.broker.log_tail(40)
