"""The rig's pytest plugin: options, rig fixtures and hooks of the P1 HIL suite.

Installed with the package (entry point `p1hil` in pytest11), so
`pytest --rig sim --bridge-firmware DIR` works from any directory once the
package is installed: run with no test paths (and no testpaths of its own),
pytest collects the HIL suite shipped in hil/tests.

`--rig sim` (default) brings up the virtual rig: two virtual ESP8266 boards
behind ptys and the P1 line model. `--rig usb` drives two real boards on
`--emulator-port` and `--bridge-port`; `--rig labgrid` acquires a labgrid place
and drives its two boards through RFC 2217 (hil.farm.client). Either way
hil.rig.session.open_rig starts a real mosquitto, deploys both firmwares over
the boards' serial ports and tears everything down.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import mqtt_as_source
from .oracle.expected import EXPECT
from .net.subscriber import Subscriber
from hil import timing_lock
from hil.rig import benchconfig
from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY, Deploy
from hil.rig.rig import BRIDGE_FIRMWARE, RigError
from .rig.session import (KINDS, ROLES, BridgeSpec, RigSpec, RigUsageError, board_ports, bridge_manifest, check_template,
                          open_rig)
from hil.sim.model import board_model, describe_rig
from hil.sim.clock import DEFAULT_SPEED, SPEEDS, ClockError

BYO_DOC = "docs/bring-your-own-bridge.md"


def pytest_addoption(parser):
    group = parser.getgroup("hil", "P1 HIL rig")
    group.addoption("--rig", choices=KINDS, default="sim",
                    help="sim: virtual rig (default, no boards needed); usb: two real boards; "
                         "labgrid: the boards of a labgrid place (docs/farm.md)")
    group.addoption("--labgrid-place", default=os.environ.get("LG_PLACE"), metavar="NAME",
                    help="--rig labgrid: the place to acquire for the run (default: LG_PLACE); "
                         "+ takes the place LG_TOKEN reserved (labgrid-client reserve)")
    group.addoption("--labgrid-coordinator", default=None, metavar="HOST:PORT",
                    help="--rig labgrid: the coordinator (default: LG_COORDINATOR, else 127.0.0.1:20408)")
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
    group.addoption("--bridge-deploy", type=Deploy.parse, default=DEFAULT_DEPLOY, metavar="romfs|frozen|mpy",
                    help="how the bridge's modules reach its board (default romfs): romfs puts its .mpy files "
                         "into the ROMFS partition (as `mpremote romfs deploy` does; the ESP8266_GENERIC "
                         "FLASH_2M_ROMFS firmware on real boards), where they run in place; frozen runs it "
                         "frozen into the firmware image from its manifest.py (built and cached on the virtual "
                         "rig; on real boards flash it yourself); mpy copies .mpy files onto the filesystem, "
                         "for a firmware without ROMFS. With romfs and frozen only main.py and config.json go "
                         "onto the filesystem")
    group.addoption("--board-speed", choices=SPEEDS, default=DEFAULT_SPEED,
                    help="the virtual boards' speed: chip (an 80 MHz ESP8266's, calibrated; timing figures "
                         "and overflow verdicts are the chip's) or host (this machine's, hundreds of times "
                         "faster, for quick iteration) (default %(default)s; docs/FIDELITY.md)")
    group.addoption("--bridge-lib", action="append", default=[], metavar="DIR",
                    help="extra modules to put on the bridge (e.g. a directory with mqtt_as.py); repeatable")
    group.addoption("--rig-config", default=None, metavar="FILE",
                    help="the bench's rig config for real boards: WiFi, broker host, board bindings "
                         "(JSON, see rig.example.json; never commit it)")
    group.addoption("--soak-telegrams", type=int, default=2000, metavar="N",
                    help="telegrams the soak test (-m long) plays back to back (default 2000, ~7 min)")


def _has_tests(config) -> bool:
    """Does pytest run in a directory of tests of its own (then it collects those)?"""
    here = Path(config.invocation_params.dir)
    return any(here.glob("test_*.py")) or any(here.glob("*/test_*.py")) or any(here.glob("*/*/test_*.py"))


def rig_spec(config, rig_config: benchconfig.RigConfig) -> RigSpec:
    """The rig the options ask for (hil.rig.session.open_rig brings it up)."""
    template = config.getoption("--bridge-config")
    cfg = rig_config.with_options(broker_host=config.getoption("--broker-host"),
                                  bindings={role: config.getoption(f"--{role}-port") for role in ROLES})
    return RigSpec(
        kind=config.getoption("--rig"),
        broker_host=cfg.broker.host,
        bindings={role: cfg.binding(role) for role in ROLES},
        wifi=cfg.wifi,
        bridge=BridgeSpec(firmware=Path(config.getoption("--bridge-firmware") or BRIDGE_FIRMWARE),
                          config_template=_read_template(template) if template else None,
                          libs=[Path(d) for d in config.getoption("--bridge-lib")],
                          deploy=config.getoption("--bridge-deploy")),
        board_speed=config.getoption("--board-speed"),
        labgrid_place=config.getoption("--labgrid-place"),
        labgrid_coordinator=config.getoption("--labgrid-coordinator"))


def _load_rig_config(config) -> benchconfig.RigConfig:
    try:
        return benchconfig.load_rig_config(config.getoption("--rig-config"))
    except benchconfig.RigConfigError as e:
        raise pytest.UsageError(str(e)) from e


SUITE = Path(__file__).resolve().parent / "tests"  # the HIL suite, shipped with the package


TIMING = "timing"
MARKERS = (
    "hardware: needs two real boards attached (--rig usb)",
    "long: long-running test (the soak, the variant scenarios), deselected unless asked for (-m long)",
    "soak: the soak test: its timeout follows --soak-telegrams",
    f"{TIMING}: measures time or heap under load; under pytest -n these run one at a time (hil.timing_lock)",
)


def pytest_configure(config):
    from hil.report.plugin import BOARD_LINES

    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    # No test paths given (nor testpaths configured): with --bridge-firmware, or where there are no tests
    # of its own, `pytest` runs the HIL suite, so a bridge's repository needs nothing but the package.
    if config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR and (
            config.getoption("--bridge-firmware") or not _has_tests(config)):
        config.args = [str(SUITE)]
    spec = rig_spec(config, _load_rig_config(config))
    try:  # before any board is touched: a template that cannot be filled, a usb rig without what it needs
        manifest = bridge_manifest(spec)
        if spec.bridge.config_template is not None:
            check_template(spec.bridge.config_template)
        if spec.kind == "usb":
            board_ports(spec)
        if spec.kind == "labgrid" and not spec.labgrid_place:
            raise RigUsageError("--rig labgrid: which place? --labgrid-place NAME (or LG_PLACE); "
                                "`labgrid-client places` lists them")
    except RigError as e:
        what = f"--bridge-config {config.getoption('--bridge-config')}: " if not isinstance(e, RigUsageError) else ""
        raise pytest.UsageError(f"{what}{e}") from e
    try:
        config.stash[BOARD_LINES] = describe_rig(spec.kind, spec.bridge.deploy, str(manifest) if manifest else None,
                                                 board_speed=spec.board_speed)
    except ClockError as e:  # a calibration file that cannot be used: before any board starts
        raise pytest.UsageError(str(e)) from e


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
    if not config.option.markexpr:  # the long tests run when asked for by name: -m long
        long = [item for item in items if "long" in item.keywords]
        if long:
            config.hook.pytest_deselected(items=long)
            items[:] = [item for item in items if "long" not in item.keywords]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under pytest -n: the timing tests run one at a time (hil.timing_lock)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or TIMING not in item.keywords:
        return (yield)
    # The workers' base temp dirs are popen-gwN in the run's own: the lock lives there.
    run_dir = item.config._tmp_path_factory.getbasetemp().parent
    with timing_lock.held(run_dir / "hil-timing-lock"):
        return (yield)


@pytest.fixture(scope="session")
def rig_kind(pytestconfig) -> str:
    return pytestconfig.getoption("--rig")


@pytest.fixture(scope="session")
def chip_speed(pytestconfig) -> bool:
    """Whether the bridge computes at an ESP8266's speed: real boards, or the
    virtual ESP8266 at --board-speed chip. Verdicts that depend on speed (can
    the bridge publish every telegram back to back?) differ by it."""
    if pytestconfig.getoption("--rig") != "sim":
        return True
    return pytestconfig.getoption("--board-speed") == "chip" and board_model().faithful


@pytest.fixture(scope="session")
def mqtt_as_dir() -> Path:
    """The directory with the real mqtt_as.py (MQTT_AS_DIR). Without it the test
    skips, unless the run was told to have it (hil.mqtt_as_source): then it fails."""
    found = mqtt_as_source.locate()
    if isinstance(found, mqtt_as_source.Missing):
        if found.required:
            pytest.fail(found.reason, pytrace=False)
        pytest.skip(found.reason)
    return found


@pytest.fixture(scope="session")
def expect(pytestconfig) -> str:
    """--expect: which names the bridge is held to (hil.oracle.expected.EXPECT)."""
    return pytestconfig.getoption("--expect")


@pytest.fixture(scope="session")
def rig_session(pytestconfig, tmp_path_factory):
    """The whole rig, brought up once (hil.rig.session.open_rig)."""
    spec = rig_spec(pytestconfig, _load_rig_config(pytestconfig))
    spec.workdir = tmp_path_factory.mktemp("rig")
    if spec.kind == "sim" and spec.bridge.deploy is Deploy.FROZEN and not board_model().faithful:
        pytest.skip(f"--bridge-deploy frozen needs the virtual ESP8266 to build the image, and this machine has the "
                    f"{board_model().name}: run scripts/bootstrap with MICROPYTHON_SRC set")
    places = pytestconfig.stash.setdefault(_PLACE_LINES, [])

    def progress(message: str) -> None:
        # Which boards a labgrid run reached, and through which ports (rfc2217://...):
        # the summary says so, where the output shows the run got at the boards.
        if message.startswith(("labgrid place ", "released labgrid place ")):
            places.append(message)
    try:
        with open_rig(spec, progress) as session:
            yield session
    except RigUsageError as e:
        if spec.kind == "labgrid":  # e.g. the place is taken: no test can run, say it once
            pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)
        pytest.fail(str(e), pytrace=False)
    pytestconfig.stash[_TEARDOWN_NOTES] = session.notes


_TEARDOWN_NOTES = pytest.StashKey[list]()
_PLACE_LINES = pytest.StashKey[list]()
SETTLE_S = 0.5  # the bridge publishes a telegram's values ms apart; half a second without one: done


def pytest_terminal_summary(terminalreporter, config):
    """Which labgrid place the run used, through which ports, and what became of
    the boards after the run (a real bridge's own config.json)."""
    for line in config.stash.get(_PLACE_LINES, []):
        terminalreporter.write_line(f"hil: {line}")
    for note in config.stash.get(_TEARDOWN_NOTES, []):
        terminalreporter.write_line(f"hil: {note}", yellow=True)


@pytest.fixture(scope="session")
def broker(rig_session):
    return rig_session.broker


@pytest.fixture(scope="session")
def virtual_rig(rig_session):
    if rig_session.sim is None:
        pytest.skip("virtual rig only with --rig sim")
    return rig_session.sim


@pytest.fixture(scope="session")
def rig(rig_session):
    return rig_session.rig


def _read_template(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise pytest.UsageError(f"--bridge-config {path}: {e.strerror}") from e


@pytest.fixture
def subscriber(rig, broker):
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        # A test starts when the bridge has done publishing what the tests
        # before it sent (a back-to-back run leaves it a second behind the line):
        # those values belong to no telegram of this test. Retained copies stay.
        sub.wait_quiet(SETTLE_S, timeout=15)
        sub.drop_live()
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
