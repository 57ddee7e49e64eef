"""On a real rig the suite writes its own config.json onto the user's bridge;
at the end it puts the user's back and restarts the bridge (a board whose
DTR/RTS reset the rig can use, modelled here by the virtual rig's reset)."""
from __future__ import annotations

import json

from hil.net.broker import Mosquitto
from hil.rig.board import Board
from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY
from hil.rig.rig import BrokerAccess, Rig
from hil.sim.model import board_model
from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED

USER_CONFIG = json.dumps({"wifi": {"ssid": "home", "password": "x"}, "mqtt": {"host": "192.168.1.5"},
                          "base_topic": "meter"}).encode()


def test_the_bridge_gets_its_own_config_back_after_the_run(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker") as broker, VirtualRig(tmp_path / "sim", board_speed=UNTIMED_SPEED) as sim:
        flash = sim.flash["bridge"] / "config.json"
        flash.write_bytes(USER_CONFIG)
        boards = [Board(role, sim.ports[role], tmp_path / f"{role}.log").open() for role in ("emulator", "bridge")]
        rig = Rig(*boards, BrokerAccess("127.0.0.1", sim.forward_broker(broker.host, broker.port), broker.user,
                                        broker.password),
                  base_topic="restore", build_dir=tmp_path / "build", reset_bridge=lambda: sim.reset("bridge"),
                  broker_log=broker, keep_user_config=True)
        try:
            rig.deploy_emulator()
            rig.deploy_bridge(deploy=board_model().takes(DEFAULT_DEPLOY))
            assert json.loads(flash.read_bytes())["base_topic"] == "restore", "the suite's config is on the board"
            restarts = len(sim.board("bridge").reset_at)
            note = rig.restore_user_config()
            assert flash.read_bytes() == USER_CONFIG, note
            assert note == f"the bridge on {rig.bridge.port} has its own config.json back ({len(USER_CONFIG)} bytes) " \
                           "and was restarted"
            assert len(sim.board("bridge").reset_at) > restarts, "the bridge was not restarted with its config"
        finally:
            rig.close()
