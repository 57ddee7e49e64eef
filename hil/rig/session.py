"""Bring up a whole rig as one context: the one composer.

:func:`open_rig` starts the broker, the boards (the virtual rig, or two real
boards found by their bindings), binds the bridge's reset, deploys both
firmwares and tears it all down again. The pytest fixtures and every `hil`
command that needs a rig use it, so a rig comes up one way only.
"""
from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..net.broker import Mosquitto
from . import discover, reset
from .benchconfig import ROLES, VIRTUAL_WIFI
from .board import Board
from .deploy import DEFAULT as DEFAULT_DEPLOY, Deploy
from .firmware import FirmwareError, frozen_manifest
from .rig import BRIDGE_FIRMWARE, BrokerAccess, Rig, RigError, fill_config_template
from ..farm.client import BRIDGE_POWER
from ..sim.handle import VirtualRig

KINDS = ("sim", "usb", "labgrid")
PORT_OPTIONS = {"emulator": "--emulator-port", "bridge": "--bridge-port"}
# The manifest of the image a user flashes for `"backend": "mqtt_as"`: the bridge
# and mqtt_as frozen in (as .mpy or source mqtt_as does not fit the chip's heap).
MQTT_AS_MANIFEST = "manifest_mqtt_as.py"


class RigUsageError(RigError):
    """What was asked of the rig cannot work; the message says how to fix it."""


@dataclass
class BridgeSpec:
    """Which bridge to put on the rig, and how."""
    firmware: Path | None = None  # default: this project's bridge_firmware/
    config_template: str | None = None  # a bridge's own config.json with $names (fill_config_template)
    libs: list[Path] = field(default_factory=list)
    deploy: Deploy = DEFAULT_DEPLOY  # how the bridge's modules reach its board (hil.rig.deploy)
    manifest: Path | None = None  # Deploy.FROZEN: the manifest frozen in (default: the firmware's manifest.py)
    path_vars: dict[str, Path] | None = None  # that manifest's $(NAME)s
    free_at_main: int | None = None  # virtual board's heap (default: the chip's, hil.sim.model)
    mqtt: dict | None = None  # config.json's "mqtt" extras, e.g. {"backend": "mqtt_as"}
    wait_connected: bool = True  # False: up once the bridge is reset (for a bridge expected to fail)

    @classmethod
    def mqtt_as(cls, firmware: Path, mqtt_as_dir: Path) -> "BridgeSpec":
        """`firmware` on mqtt_as: its MQTT_AS_MANIFEST image, mqtt_as from
        `mqtt_as_dir`, config.json saying backend mqtt_as."""
        return cls(firmware=firmware, deploy=Deploy.FROZEN, manifest=firmware / MQTT_AS_MANIFEST,
                   path_vars={"MQTT_AS_DIR": mqtt_as_dir}, mqtt={"backend": "mqtt_as"})


@dataclass
class RigSpec:
    """What rig to bring up and which bridge to put on it."""
    kind: str = "sim"  # "sim": the virtual rig; "usb": two boards on this PC's serial ports; "labgrid": a place
    broker_host: str | None = None  # default 127.0.0.1; a real bridge needs this PC's LAN address
    broker_port: int = 0  # 0: a free port
    bindings: dict[str, str | None] = field(default_factory=dict)  # role -> path, serial:..., location:...
    wifi: tuple[str, str] | None = None  # (ssid, password); required for real boards
    base_topic: str = field(default_factory=lambda: f"p1hil{os.getpid()}")
    bridge: BridgeSpec = field(default_factory=BridgeSpec)
    board_speed: str | None = None  # virtual boards: "chip" or "host" (None: hil.sim.clock's default)
    workdir: Path | None = None  # default: a temporary directory
    labgrid_place: str | None = None  # kind "labgrid": the place to acquire ("+": the one LG_TOKEN reserved)
    labgrid_coordinator: str | None = None  # default: LG_COORDINATOR, else labgrid's 127.0.0.1:20408


@dataclass
class RigSession:
    """A rig that is up: the Rig (boards, firmwares), its broker and, on the
    virtual rig, the process that models the boards and the line."""
    rig: Rig
    broker: Mosquitto
    sim: VirtualRig | None
    notes: list[str] = field(default_factory=list)  # what the user must know after teardown


def board_ports(spec: RigSpec) -> dict[str, str]:
    """Device path per role for a usb rig; RigUsageError with the fix when the
    boards, the broker address or the WiFi a real rig needs are missing."""
    try:
        ports = discover.resolve_roles({r: spec.bindings.get(r) for r in ROLES}, PORT_OPTIONS)
    except discover.DiscoverError as e:
        raise RigUsageError(f"--rig usb: {e}\n(bind the boards with --emulator-port/--bridge-port or "
                            f"\"boards\" in --rig-config; `hil boards` lists them)") from e
    if not all(reset.is_virtual(p) for p in ports.values()):
        check_real_bridge_needs(spec)  # a running `hil sim`'s bridge reaches the broker here, WiFi is modelled
    return ports


def check_real_bridge_needs(spec: RigSpec) -> None:
    """RigUsageError with the fix when a real bridge could not reach the suite's broker."""
    host = spec.broker_host
    if not host or host.startswith("127.") or host == "localhost":
        raise RigUsageError(f"--rig {spec.kind}: the bridge reaches the suite's broker over WiFi, so give this PC's "
                            "LAN address: --broker-host 192.168.x.y, or \"broker\": {\"host\": ...} in --rig-config "
                            "(and let the bridge through this PC's firewall: the broker listens on a random port)")
    if spec.wifi is None:
        raise RigUsageError(f"--rig {spec.kind}: the bridge needs WiFi: give --rig-config FILE with a \"wifi\" "
                            "section (see rig.example.json)")


def bench_spec(rig_config: str | None, *, broker_host: str | None = None, emulator_port: str | None = None,
               bridge_port: str | None = None, bridge_deploy: Deploy = DEFAULT_DEPLOY) -> RigSpec:
    """The real rig of a bench's rig config (hil.rig.benchconfig), options given
    on the command line taking precedence; RigUsageError when the file is bad.
    The broker is the suite's own, started on the config's port (0: a free one)."""
    from .benchconfig import RigConfigError, load_rig_config

    try:
        cfg = load_rig_config(rig_config).with_options(
            broker_host=broker_host, bindings={"emulator": emulator_port, "bridge": bridge_port})
    except RigConfigError as e:
        raise RigUsageError(str(e)) from e
    return RigSpec(kind="usb", broker_host=cfg.broker.host, broker_port=cfg.broker.port or 0, base_topic=cfg.topic,
                   bindings={role: cfg.binding(role) for role in ROLES}, wifi=cfg.wifi,
                   bridge=BridgeSpec(deploy=bridge_deploy))


def bridge_manifest(spec: RigSpec) -> Path | None:
    """The manifest frozen into the bridge's image when it is deployed frozen,
    else None; RigUsageError when the firmware has none."""
    if spec.bridge.deploy is not Deploy.FROZEN:
        return None
    if spec.bridge.manifest is not None:
        return Path(spec.bridge.manifest)
    try:
        return frozen_manifest(Path(spec.bridge.firmware or BRIDGE_FIRMWARE))
    except FirmwareError as e:
        raise RigUsageError(f"--bridge-deploy frozen: {e}") from e


def check_template(template: str) -> None:
    """RigError now, before any board is touched, if a bridge's config template cannot be filled."""
    from .rig import CONFIG_NAMES

    fill_config_template(template, {n: 1 if n == "broker_port" else n for n in CONFIG_NAMES})


@dataclass
class Boards:
    """What one rig kind brings: where its two boards are and how to treat them."""
    ports: dict[str, str]  # role -> the port to open
    bindings: dict[str, str | None]  # role -> what finds the board again after a replug (Board's binding)
    virtual: bool  # virtual ESP8266s: the board model decides the deploy way and the build's arch
    keep_user_config: bool  # a user's bridge gets its own config.json back at the end
    reset_bridge: Callable[[Board], None] | None  # given the opened bridge Board; None: no way to reset it
    broker_for_bridge: Callable[[Mosquitto], tuple[str, int]]  # the broker's address as the bridge reaches it
    sim: VirtualRig | None = None  # the virtual rig's process, where there is one


def _direct(broker: Mosquitto) -> tuple[str, int]:
    return broker.host, broker.port


def _dtr_rts(bridge: Board) -> None:
    # DTR/RTS as esptool drives them; through a labgrid place, RFC 2217 carries the lines to the board.
    reset.hard_reset(bridge.transport.serial)


@contextlib.contextmanager
def _sim_boards(spec: RigSpec, workdir: Path, progress: Callable[[str], None]) -> Iterator[Boards]:
    """The virtual rig: two virtual boards in a process of their own; the bridge
    reaches the broker through the rig's WiFi model and is reset through its
    control socket; its ports are stable links."""
    with _virtual_boards(spec, workdir, progress) as sim:
        yield Boards(ports=dict(sim.ports), bindings=dict(sim.ports), virtual=True, keep_user_config=False,
                     reset_bridge=lambda _bridge: sim.reset("bridge"),
                     broker_for_bridge=lambda broker: ("127.0.0.1", sim.forward_broker(broker.host, broker.port)),
                     sim=sim)


@contextlib.contextmanager
def _usb_boards(spec: RigSpec, workdir: Path, progress: Callable[[str], None]) -> Iterator[Boards]:
    """Two boards on this PC's serial ports, found by their bindings (again
    after a replug); a `hil sim`'s ptys count as virtual boards, whose
    config.json is kept all the same, as the bench would."""
    ports = board_ports(spec)
    virtual = reset.is_virtual(ports["bridge"])
    yield Boards(ports=ports, bindings={role: spec.bindings.get(role) for role in ROLES}, virtual=virtual,
                 keep_user_config=True, reset_bridge=None if virtual else _dtr_rts, broker_for_bridge=_direct)


@contextlib.contextmanager
def _labgrid_boards(spec: RigSpec, workdir: Path, progress: Callable[[str], None]) -> Iterator[Boards]:
    """A labgrid place's two ports (network URLs); a virtual place's bridge is
    reset by cycling its power, as a lab's switch does (a pty has no DTR/RTS)."""
    with _labgrid_place(spec, progress) as place:
        if not place.virtual:
            check_real_bridge_needs(spec)
            reset_bridge = _dtr_rts
        elif BRIDGE_POWER in place.power:
            reset_bridge = lambda _bridge: place.power_cycle(BRIDGE_POWER)  # noqa: E731
        else:
            reset_bridge = None
        yield Boards(ports=dict(place.ports), bindings=dict(place.ports), virtual=place.virtual,
                     keep_user_config=not place.virtual, reset_bridge=reset_bridge, broker_for_bridge=_direct)


BINDINGS = {"sim": _sim_boards, "usb": _usb_boards, "labgrid": _labgrid_boards}
"""One binding per rig kind (KINDS): open_rig picks one and composes the rest."""


@contextlib.contextmanager
def open_rig(spec: RigSpec, progress: Callable[[str], None] = lambda msg: None) -> Iterator[RigSession]:
    """Broker, boards and both firmwares, the bridge connected to the broker;
    everything stopped on exit, also when bring-up fails half way."""
    binding = BINDINGS.get(spec.kind)
    if binding is None:
        raise RigUsageError(f"no rig kind {spec.kind!r}: {', '.join(KINDS)}")
    if spec.bridge.config_template is not None:
        check_template(spec.bridge.config_template)
    with contextlib.ExitStack() as stack:
        workdir = Path(spec.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="hil-")))
        progress("starting mosquitto")
        broker = stack.enter_context(Mosquitto(host=spec.broker_host or "127.0.0.1", port=spec.broker_port,
                                               workdir=workdir / "broker"))
        found = stack.enter_context(binding(spec, workdir, progress))
        deploy = _deploy_on_this_board(spec.bridge.deploy, progress) if found.virtual else spec.bridge.deploy
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        boards = {role: Board(role, found.ports[role], logs / f"{role}.log", binding=found.bindings[role],
                              virtual=found.virtual).open()
                  for role in ROLES}
        reset_bridge = (None if found.reset_bridge is None
                        else functools.partial(found.reset_bridge, boards["bridge"]))
        rig = Rig(boards["emulator"], boards["bridge"],
                  BrokerAccess(*found.broker_for_bridge(broker), broker.user, broker.password),
                  base_topic=spec.base_topic, wifi=spec.wifi or VIRTUAL_WIFI, reset_bridge=reset_bridge,
                  build_dir=workdir / "build", bridge_mqtt=spec.bridge.mqtt, broker_log=broker,
                  keep_user_config=found.keep_user_config)
        stack.callback(rig.close)
        session = RigSession(rig, broker, found.sim)
        stack.callback(_restore_user_config, session, progress)
        progress("deploying the meter emulator firmware")
        rig.deploy_emulator()
        progress("deploying the bridge firmware and waiting for its MQTT connection")
        template = spec.bridge.config_template
        rig.deploy_bridge(**({"firmware": Path(spec.bridge.firmware)} if spec.bridge.firmware else {}),
                          config=rig.bridge_config_from(template) if template is not None else None,
                          libs=[Path(d) for d in spec.bridge.libs], deploy=deploy,
                          wait_connected=spec.bridge.wait_connected)
        yield session


def _restore_user_config(session: RigSession, progress: Callable[[str], None]) -> None:
    note = session.rig.restore_user_config()
    if note:
        session.notes.append(note)
        progress(note)


@contextlib.contextmanager
def _labgrid_place(spec: RigSpec, progress: Callable[[str], None]):
    from ..farm.client import FarmError, acquired

    progress(f"acquiring labgrid place {spec.labgrid_place}")
    try:
        with acquired(spec.labgrid_place, spec.labgrid_coordinator) as place:
            progress(f"labgrid place {place.name}: " + ", ".join(f"{r} {u}" for r, u in place.ports.items()))
            yield place
    except FarmError as e:
        raise RigUsageError(f"--rig labgrid: {e}") from e
    progress(f"released labgrid place {place.name}")


def _deploy_on_this_board(deploy: Deploy, progress: Callable[[str], None]) -> Deploy:
    """How this machine's virtual board takes the bridge (the approximate board
    has no ROMFS), said when it is not the way asked for."""
    from ..sim.model import NO_ROMFS, board_model

    taken = board_model().takes(deploy)
    if taken is not deploy:
        progress(f"--bridge-deploy {deploy.value}: {NO_ROMFS}")
    return taken


@contextlib.contextmanager
def _virtual_boards(spec: RigSpec, workdir: Path, progress: Callable[[str], None]) -> Iterator[VirtualRig]:
    from ..sim.model import CHIP_FREE_AT_MAIN, frozen_image

    manifest = bridge_manifest(spec)
    if manifest is not None:
        progress(f"building the virtual ESP8266 image with {manifest} frozen in (cached)")
        try:
            frozen_image(manifest, spec.bridge.path_vars)  # here, with its error text
        except FileNotFoundError as e:
            raise RigUsageError(str(e)) from e
    free = CHIP_FREE_AT_MAIN if spec.bridge.free_at_main is None else spec.bridge.free_at_main
    progress("starting the virtual rig (two MicroPython boards, P1 line)")
    with VirtualRig(workdir / "sim", bridge_free_at_main=free, bridge_image=manifest,
                    bridge_path_vars=spec.bridge.path_vars, board_speed=spec.board_speed) as sim:
        yield sim
