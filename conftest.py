"""pytest options and rig fixtures for the P1 HIL suite.

`--rig sim` (default) builds the virtual rig: two MicroPython unix-port boards
behind ptys and the P1 line model. `--rig usb` drives two real boards on
`--emulator-port` and `--bridge-port`. Either way the fixtures start a real
mosquitto, deploy both firmwares over the boards' serial ports, and tear
everything down.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hil.broker import Mosquitto
from hil.mqtt import Subscriber
from hil.rig.board import Board
from hil.rig.rig import BrokerAccess, Rig
from hil.sim.process import VirtualRigProcess


def pytest_addoption(parser):
    group = parser.getgroup("hil", "P1 HIL rig")
    group.addoption("--rig", choices=("sim", "usb"), default="sim",
                    help="sim: virtual rig (default, no boards needed); usb: two real boards")
    group.addoption("--emulator-port", help="serial port of the emulator board (--rig usb)")
    group.addoption("--bridge-port", help="serial port of the bridge board (--rig usb)")
    group.addoption("--broker-host", default=None,
                    help="address the broker listens on and the bridge connects to "
                         "(default 127.0.0.1 for sim; required for usb: the PC's LAN address)")
    group.addoption("--bridge-firmware", default=None, metavar="DIR",
                    help="bridge firmware directory to test (default: this checkout's bridge_firmware/)")
    group.addoption("--rig-config", default=None,
                    help="JSON file with WiFi settings for real boards: "
                         '{"wifi": {"ssid": ..., "password": ...}} (never commit it)')


def pytest_collection_modifyitems(config, items):
    if config.getoption("--rig") != "usb":
        skip = pytest.mark.skip(reason="needs two real boards: run with --rig usb --emulator-port ... --bridge-port ...")
        for item in items:
            if "hardware" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def rig_kind(pytestconfig) -> str:
    return pytestconfig.getoption("--rig")


@pytest.fixture(scope="session")
def broker(pytestconfig, rig_kind, tmp_path_factory):
    host = pytestconfig.getoption("--broker-host") or "127.0.0.1"
    if rig_kind == "usb" and host.startswith("127."):
        pytest.skip("--rig usb needs --broker-host set to this PC's LAN address, reachable by the bridge over WiFi")
    with Mosquitto(host=host, workdir=tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture(scope="session")
def virtual_rig(rig_kind, tmp_path_factory):
    if rig_kind != "sim":
        pytest.skip("virtual rig only with --rig sim")
    with VirtualRigProcess(tmp_path_factory.mktemp("sim")) as sim:
        yield sim


@pytest.fixture(scope="session")
def board_ports(request, rig_kind) -> dict[str, str]:
    if rig_kind == "sim":
        return request.getfixturevalue("virtual_rig").ports
    cfg = request.config
    ports = {"emulator": cfg.getoption("--emulator-port"), "bridge": cfg.getoption("--bridge-port")}
    missing = [f"--{role}-port" for role, port in ports.items() if not port]
    if missing:
        pytest.skip(f"--rig usb needs {' and '.join(missing)} (e.g. /dev/ttyUSB0); no board attached")
    return ports


@pytest.fixture(scope="session")
def rig(request, rig_kind, broker, board_ports, tmp_path_factory):
    logs = tmp_path_factory.mktemp("boards")
    wifi = ("hil-rig", "hil-rig-password")
    rig_config = request.config.getoption("--rig-config")
    if rig_config:
        w = json.loads(Path(rig_config).read_text())["wifi"]
        wifi = (w["ssid"], w["password"])
    reset_bridge = None
    if rig_kind == "sim":
        sim = request.getfixturevalue("virtual_rig")
        reset_bridge = lambda: sim.control(cmd="reset", board="bridge")  # noqa: E731
    emulator = Board("emulator", board_ports["emulator"], logs / "emulator.log").open()
    bridge = Board("bridge", board_ports["bridge"], logs / "bridge.log").open()
    r = Rig(emulator, bridge, BrokerAccess(broker.host, broker.port, broker.user, broker.password),
            base_topic=f"p1hil{os.getpid()}", wifi=wifi, reset_bridge=reset_bridge)
    firmware = request.config.getoption("--bridge-firmware")
    try:
        r.deploy_emulator()
        r.deploy_bridge(**({"firmware": Path(firmware)} if firmware else {}))
        yield r
    finally:
        r.close()


@pytest.fixture
def subscriber(rig, broker):
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        yield sub
