"""pytest options and rig fixtures for the P1 HIL suite.

`--rig sim` (default) builds the virtual rig: two MicroPython unix-port boards
behind ptys and the P1 line model. `--rig usb` drives two real boards on
`--emulator-port` and `--bridge-port`. Either way the fixtures start a real
mosquitto, deploy both firmwares over the boards' serial ports, and tear
everything down.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil.broker import Mosquitto
from hil.expected import EXPECT
from hil.mqtt import Subscriber
from hil.rig import benchconfig, discover, reset
from hil.rig.board import Board
from hil.rig.firmware import FirmwareError, frozen_manifest
from hil.rig.rig import BRIDGE_FIRMWARE, CONFIG_NAMES, BrokerAccess, Rig, RigError, fill_config_template
from hil.sim.model import bridge_free_at_main, describe_rig, frozen_image
from hil.sim.process import VirtualRigProcess

pytest_plugins = ["hil.report.plugin"]

BYO_DOC = "docs/bring-your-own-bridge.md"


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
                    help="bridge firmware directory to test (default: this checkout's bridge_firmware/); "
                         f"any bridge that keeps the contract in {BYO_DOC}")
    group.addoption("--bridge-config", default=None, metavar="FILE",
                    help="your bridge's config.json as a template: $broker_host, $broker_port, $broker_user, "
                         "$broker_password, $wifi_ssid, $wifi_password, $base_topic, $client_id are filled in "
                         f"(default: the config this project's bridge reads; see {BYO_DOC})")
    group.addoption("--expect", choices=EXPECT, default="all",
                    help="names the bridge must publish: all (every field of this project's bridge) or contract "
                         f"(the 35 names of the compatibility contract, as a seed-style bridge publishes; see {BYO_DOC})")
    group.addoption("--bridge-frozen", action="store_true",
                    help="run the bridge frozen into the board's firmware image (its manifest.py), as a user "
                         "flashes it: on the virtual rig the image is built (and cached); on real boards flash "
                         "it yourself. Only main.py and config.json go onto the filesystem")
    group.addoption("--bridge-romfs", action="store_true",
                    help="put the bridge's .mpy files into the board's ROMFS partition (as `mpremote romfs "
                         "deploy` does), where they run in place and their bytecode costs no heap; needs the "
                         "ESP8266_GENERIC FLASH_2M_ROMFS firmware on real boards. Only main.py and config.json "
                         "go onto the filesystem")
    group.addoption("--bridge-lib", action="append", default=[], metavar="DIR",
                    help="extra modules to put on the bridge (e.g. a directory with mqtt_as.py); repeatable")
    group.addoption("--rig-config", default=None, metavar="FILE",
                    help="the bench's rig config for real boards: WiFi, broker host, board bindings "
                         "(JSON, see rig.example.json; never commit it)")
    group.addoption("--soak-telegrams", type=int, default=2000, metavar="N",
                    help="telegrams the soak test (-m long) plays back to back (default 2000, ~7 min)")


def bridge_manifest(config) -> Path | None:
    """The manifest of the bridge to freeze (--bridge-frozen), or None."""
    if not config.getoption("--bridge-frozen"):
        return None
    try:
        return frozen_manifest(Path(config.getoption("--bridge-firmware") or BRIDGE_FIRMWARE))
    except FirmwareError as e:
        raise pytest.UsageError(f"--bridge-frozen: {e}") from e


def bytecode_in_flash(config) -> bool:
    """The bridge's bytecode stays in flash: frozen into the image, or in ROMFS."""
    return bool(config.getoption("--bridge-frozen") or config.getoption("--bridge-romfs"))


def pytest_configure(config):
    from hil.report.plugin import BOARD_LINES  # here: pytest_plugins registers that module first

    if config.getoption("--bridge-frozen") and config.getoption("--bridge-romfs"):
        raise pytest.UsageError("--bridge-frozen and --bridge-romfs: choose one way to deploy the bridge")
    template = config.getoption("--bridge-config")
    if template:
        try:  # checked before any board is touched, with stand-in values
            fill_config_template(_read_template(template), {n: 1 if n == "broker_port" else n for n in CONFIG_NAMES})
        except RigError as e:
            raise pytest.UsageError(f"--bridge-config {template}: {e}") from e
    if config.getoption("--rig") == "usb":
        _check_usb_rig(config)
    manifest = bridge_manifest(config)
    config.stash[BOARD_LINES] = describe_rig(config.getoption("--rig"),
                                             bridge_frozen=str(manifest) if manifest else None,
                                             bridge_romfs=config.getoption("--bridge-romfs"))


def _check_usb_rig(config) -> None:
    """--rig usb without what a real rig needs is a usage error with the fix,
    before anything runs: skipping every test would end green with nothing tested."""
    try:
        rig_config = benchconfig.load_rig_config(config.getoption("--rig-config"))
    except benchconfig.RigConfigError as e:
        raise pytest.UsageError(str(e)) from e
    bound = rig_config.get("boards", {})
    bindings = {role: config.getoption(f"--{role}-port") or bound.get(role) for role in ("emulator", "bridge")}
    try:
        ports = discover.resolve_roles(bindings, {"emulator": "--emulator-port", "bridge": "--bridge-port"})
    except discover.DiscoverError as e:
        raise pytest.UsageError(f"--rig usb: {e}\n(bind the boards with --emulator-port/--bridge-port or "
                                f"\"boards\" in --rig-config; `hil boards` lists them)") from e
    if all(reset.is_virtual(p) for p in ports.values()):
        return  # a running `hil sim`: its bridge reaches the broker on this machine, WiFi is modelled
    host = config.getoption("--broker-host") or rig_config.get("broker", {}).get("host")
    if not host or host.startswith("127.") or host == "localhost":
        raise pytest.UsageError("--rig usb: the bridge reaches the suite's broker over WiFi, so give this PC's LAN "
                                "address: --broker-host 192.168.x.y, or \"broker\": {\"host\": ...} in --rig-config "
                                "(and let the bridge through this PC's firewall: the broker listens on a random port)")
    if "wifi" not in rig_config:
        raise pytest.UsageError("--rig usb: the bridge needs WiFi: give --rig-config FILE with a \"wifi\" section "
                                "(see rig.example.json)")


def pytest_report_header(config):
    from hil.report.plugin import BOARD_LINES

    return config.stash[BOARD_LINES]


SX631_LINE_S = 2405 * 10 / 115200  # one SX631 telegram on the line at 115200 baud


def pytest_collection_modifyitems(config, items):
    # The soak runs as long as its telegrams take on the line, plus set-up.
    soak_timeout = config.getoption("--soak-telegrams") * SX631_LINE_S * 1.2 + 300
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(pytest.mark.timeout(soak_timeout))
    if config.getoption("--rig") != "usb":
        skip = pytest.mark.skip(reason="needs two real boards: run with --rig usb --emulator-port ... --bridge-port ...")
        for item in items:
            if "hardware" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def rig_kind(pytestconfig) -> str:
    return pytestconfig.getoption("--rig")


@pytest.fixture(scope="session")
def expect(pytestconfig) -> str:
    """--expect: which names the bridge is held to (hil.expected.EXPECT)."""
    return pytestconfig.getoption("--expect")


@pytest.fixture(scope="session")
def rig_config(pytestconfig) -> dict:
    try:
        return benchconfig.load_rig_config(pytestconfig.getoption("--rig-config"))
    except benchconfig.RigConfigError as e:
        raise pytest.UsageError(str(e)) from e


@pytest.fixture(scope="session")
def broker(pytestconfig, rig_kind, rig_config, tmp_path_factory):
    host = pytestconfig.getoption("--broker-host") or rig_config.get("broker", {}).get("host") or "127.0.0.1"
    with Mosquitto(host=host, workdir=tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture(scope="session")
def virtual_rig(request, rig_kind, tmp_path_factory):
    if rig_kind != "sim":
        pytest.skip("virtual rig only with --rig sim")
    manifest = bridge_manifest(request.config)
    if manifest is not None:
        try:
            frozen_image(manifest)  # built here, with its error text, not inside the rig's start-up
        except FileNotFoundError as e:
            pytest.fail(str(e), pytrace=False)
    with VirtualRigProcess(tmp_path_factory.mktemp("sim"), bridge_frozen=manifest,
                           bridge_free_at_main=bridge_free_at_main(bytecode_in_flash(request.config))) as sim:
        yield sim


@pytest.fixture(scope="session")
def board_bindings(request, rig_kind, rig_config) -> dict[str, str | None]:
    """Role → what names its board (a path, serial:..., location:...; None:
    the one board attached). The virtual rig's ports are stable links."""
    if rig_kind == "sim":
        return {role: request.getfixturevalue("virtual_rig").ports[role] for role in ("emulator", "bridge")}
    bound = rig_config.get("boards", {})
    return {role: request.config.getoption(f"--{role}-port") or bound.get(role) for role in ("emulator", "bridge")}


@pytest.fixture(scope="session")
def board_ports(board_bindings) -> dict[str, str]:
    # --rig usb checked these in pytest_configure (_check_usb_rig): a failure here is a board gone since.
    return discover.resolve_roles(board_bindings, {"emulator": "--emulator-port", "bridge": "--bridge-port"})


@pytest.fixture(scope="session")
def rig(request, rig_kind, rig_config, broker, board_bindings, board_ports, tmp_path_factory):
    logs = tmp_path_factory.mktemp("boards")
    wifi = ("hil-rig", "hil-rig-password")  # the virtual board's WLAN takes any
    if "wifi" in rig_config:
        wifi = (rig_config["wifi"]["ssid"], rig_config["wifi"].get("password", ""))
    reset_bridge = None
    broker_for_bridge = (broker.host, broker.port)
    if rig_kind == "sim":
        sim = request.getfixturevalue("virtual_rig")
        # The virtual bridge reaches the broker through the rig's WiFi model.
        broker_for_bridge = ("127.0.0.1", sim.control(cmd="lan", broker=f"{broker.host}:{broker.port}")["port"])

        def reset_bridge():
            sim.control(cmd="reset", board="bridge")
    elif not reset.is_virtual(board_ports["bridge"]):
        def reset_bridge():
            reset.hard_reset(bridge.transport.serial)  # DTR/RTS, as esptool does
    emulator, bridge = (Board(role, board_ports[role], logs / f"{role}.log", binding=board_bindings[role]).open()
                        for role in ("emulator", "bridge"))
    r = Rig(emulator, bridge, BrokerAccess(*broker_for_bridge, broker.user, broker.password),
            base_topic=f"p1hil{os.getpid()}", wifi=wifi, reset_bridge=reset_bridge, broker_log=broker)
    firmware = request.config.getoption("--bridge-firmware")
    template = request.config.getoption("--bridge-config")
    try:
        r.deploy_emulator()
        r.deploy_bridge(**({"firmware": Path(firmware)} if firmware else {}),
                        config=r.bridge_config_from(_read_template(template)) if template else None,
                        libs=[Path(d) for d in request.config.getoption("--bridge-lib")],
                        frozen=request.config.getoption("--bridge-frozen"),
                        romfs=request.config.getoption("--bridge-romfs"))
        yield r
    finally:
        r.close()


def _read_template(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise pytest.UsageError(f"--bridge-config {path}: {e.strerror}") from e


@pytest.fixture
def subscriber(rig, broker):
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        yield sub


_LOG_MARKS = pytest.StashKey[dict]()


@pytest.fixture(autouse=True)
def _mark_board_logs(request):
    """Clear stale board output and remember where each board's log stood
    when a rig test began."""
    if "rig" in request.fixturenames:
        rig = request.getfixturevalue("rig")
        rig.clear_stale_output()
        request.node.stash[_LOG_MARKS] = {b.role: (b, b.mark()) for b in (rig.emulator, rig.bridge)}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach each board's output during a failed test to its report."""
    outcome = yield
    report = outcome.get_result()
    marks = item.stash.get(_LOG_MARKS, None)
    if report.failed and marks:
        for role, (board, since) in marks.items():
            lines = board.log.lines[since:]
            where = f" (full log: {board.log.path})" if board.log.path else ""
            report.sections.append((f"{role} serial output during the test{where}", "\n".join(lines[-400:])))
