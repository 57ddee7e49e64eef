"""`hil boards|flash|deploy|play|monitor`: the rig's real boards from a terminal.

    hil boards [--all]                                  attached ESP8266 boards and their role bindings
    hil flash  (--port SPEC | --role R) --image FILE    MicroPython onto a board (esptool)
    hil deploy --role emulator|bridge [--port SPEC]     firmware (+ config.json for the bridge) onto a board
    hil play   [--port SPEC] FILE [--interval-ms N] [--count N]   play a capture on the emulator
    hil monitor --broker-host H ... --base-topic T      live MQTT values and the bridge's status

A port SPEC is a device path (/dev/ttyUSB0, or a virtual board's pty), `serial:XYZ`
(the USB adapter's serial number) or `location:1-1.2` (the USB port; the D1 mini's
CH340 has no serial number); `hil boards` prints the SPEC of every board. Without
--port, a command takes the role's binding from the rig config, or the only board
attached.

The rig config (--rig-config FILE, JSON, local to your bench: never commit it):

    {"wifi":   {"ssid": "my-wifi", "password": "..."},
     "broker": {"host": "192.168.1.10", "port": 1883, "user": "p1bridge", "password": "..."},
     "base_topic": "p1",
     "boards": {"emulator": "location:1-1.2", "bridge": "location:1-1.3"},
     "bridge": {"boot_window_ms": 2000}}

`bridge` holds extra config.json keys for the bridge (see bridge_firmware/README.md).
Every command returns an exit code: 0 done, 1 a problem found, 2 a usage or
environment error (message on stderr).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Group
from rich.markup import escape
from rich.progress import DownloadColumn, TaskProgressColumn, TextColumn
from rich.table import Table

from ..rig import benchconfig, discover
from ..rig.benchconfig import DEFAULT_BROKER_PORT, ROLES
from ..rig.deploy import DEFAULT as DEFAULT_DEPLOY, Deploy, mpy_misfit
from ..rig.rig import bridge_config as rig_bridge_config
from ..shipped import BRIDGE_FIRMWARE, METER_EMULATOR
from .ui import add_bridge_deploy, console, fail as _fail, progress_bar, upload_capture, warn as _warn, run_alone
from ..rig.flash import DEFAULT_BAUD, DOWNLOAD_URL


FIRMWARE = {"emulator": METER_EMULATOR, "bridge": BRIDGE_FIRMWARE}


class UsageError(Exception):
    """Bad options or rig config: exit code 2 with the message."""


# --- rig config and ports ---

def load_rig_config(path: str | None) -> benchconfig.RigConfig:
    try:
        return benchconfig.load_rig_config(path)
    except benchconfig.RigConfigError as e:
        raise UsageError(str(e)) from e


def _bindings(args, cfg: benchconfig.RigConfig) -> dict[str, str | None]:
    cfg = cfg.with_options(bindings={role: getattr(args, f"{role}_port", None) for role in ROLES})
    return {role: cfg.binding(role) for role in ROLES}


def _port(args, cfg: benchconfig.RigConfig, default_role: str | None = None) -> tuple[str, str]:
    """(role, device path) from --port, else the role's binding, else the only board."""
    role = getattr(args, "role", None) or default_role
    spec = args.port or cfg.binding(role)
    try:
        return role or "board", discover.resolve(spec, role or "board", option="--port")
    except discover.DiscoverError as e:
        raise UsageError(str(e)) from e


def _add_port_options(p, role_required: bool = False, role_default: str | None = None) -> None:
    p.add_argument("--port", metavar="SPEC", help="device path, serial:XYZ or location:1-1.2 (see `hil boards`)")
    p.add_argument("--role", choices=ROLES, required=role_required, default=role_default,
                   help="use this role's binding from --rig-config" + (" (default %(default)s)" if role_default else ""))
    p.add_argument("--rig-config", metavar="FILE", help="the bench's rig config (JSON; see `hil boards --help`)")


# --- boards ---

def cmd_boards(args) -> int:
    try:
        cfg = load_rig_config(args.rig_config)
    except UsageError as e:
        return _fail(str(e))
    ports = discover.list_ports() if args.all else discover.find_boards()
    if not ports:
        console.print("no ESP8266 board attached (looked for USB ids "
                      + ", ".join(f"{name} {v:04x}:{p:04x}" if p else f"{name} {v:04x}:*"
                                  for v, p, name in discover.USB_ADAPTERS)
                      + "). Plug one in with a data cable; `--all` lists every USB serial port.")
        return 1
    bindings = _bindings(args, cfg)
    table = Table(title="attached boards", title_justify="left")
    for col in ("port", "VID:PID", "adapter", "serial", "location", "ID_PATH", "description", "role", "SPEC"):
        table.add_column(col, no_wrap=col in ("port", "SPEC", "ID_PATH"))
    for b in ports:
        # ID_PATH: what a labgrid exporter matches the port by (docs/farm/exporter.yaml).
        table.add_row(b.device, b.usb_id, b.adapter or "-", b.serial_number or "-", b.usb_location or "-",
                      discover.udev_property(b.device, "ID_PATH") or "-", escape(b.description),
                      discover.role_of(b, bindings) or "", b.binding(ports))
    console.print(table)
    for role, spec in bindings.items():
        if spec and not any(b.matches(spec) for b in ports):
            console.print(f"[yellow]{role}:[/] its binding {escape(spec)} matches no attached board")
    return 0


# --- flash ---

def cmd_flash(args) -> int:
    from ..rig.flash import FlashError, FlashPlan, flash

    try:
        cfg = load_rig_config(args.rig_config)
        role, port = _port(args, cfg)
    except UsageError as e:
        return _fail(str(e))
    plan = FlashPlan(port, Path(args.image), baud=args.baud, erase=not args.no_erase)
    console.print(f"flashing {escape(str(plan.image))} onto the {role} on {escape(port)}; the same by hand:\n"
                  f"[dim]{escape(plan.describe())}[/]")
    try:
        with progress_bar(TaskProgressColumn(), DownloadColumn()) as progress:
            tasks: dict[str, int] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task("erasing the flash" if stage == "erase" else "writing",
                                                     total=None if stage == "erase" else total)
                if stage == "erase":
                    if done >= total:
                        progress.update(tasks[stage], total=1, completed=1)
                else:
                    progress.update(tasks[stage], completed=done, total=total)

            result = flash(plan, say=lambda m: progress.console.print(f"[dim]esptool:[/] {escape(m)}"),
                           progress=on_progress)
    except FlashError as e:
        return _fail(str(e))
    console.print(f"[green]flashed[/] {result.image_bytes} bytes onto {escape(result.chip)} (MAC {result.mac}); "
                  f"it boots MicroPython now. Next: hil deploy --role {role if role in ROLES else 'emulator'} "
                  f"--port {escape(args.port or port)}")
    return 0


# --- deploy ---

def bridge_config(cfg: benchconfig.RigConfig, args) -> dict:
    """config.json for the bridge from the rig config, options overriding it."""
    cfg = cfg.with_options(**{f"broker_{key}": getattr(args, f"broker_{key}", None)
                              for key in ("host", "port", "user", "password")}, base_topic=args.base_topic)
    if cfg.wifi is None:
        raise UsageError("the bridge needs WiFi: put {\"wifi\": {\"ssid\": ..., \"password\": ...}} into "
                         "--rig-config FILE")
    broker = cfg.broker
    if not broker.host:
        raise UsageError("the bridge needs the broker's address as the board sees it (this PC's LAN address): "
                         "--broker-host or \"broker\": {\"host\": ...} in the rig config")
    return rig_bridge_config(cfg.wifi, broker.host, broker.port or DEFAULT_BROKER_PORT, cfg.topic, broker.user,
                             broker.password, **cfg.bridge)


def check_bridge_config(firmware: Path, config: dict) -> list[str]:
    """Problems the firmware's own config.py finds (the same check the board
    runs at boot; [] when the firmware has no config.py)."""
    source = firmware / "config.py"
    if not source.exists():
        return []
    spec = importlib.util.spec_from_file_location("_bridge_config_check", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.validate(json.loads(json.dumps(config)))[1])


def _open_repl(board, virtual: bool) -> None:
    """The raw REPL; a running bridge has detached its REPL, so a real board
    gets a hard reset (DTR/RTS) and is caught in its boot window."""
    from ..rig.board import BoardError
    from ..rig.reset import reset_board

    try:
        board.enter_raw_repl()
        return
    except BoardError as first:
        if virtual:
            raise BoardError(f"{first}\nA virtual board whose firmware runs detached: reset it through the "
                             "virtual rig's control socket (VirtualRig.reset("
                             f"{board.role!r})) and deploy again within its boot window") from first
    board.reset_into_repl(lambda: reset_board(board))


def _bridge_deploy(deploy: Deploy, port: str, firmware: Path) -> Deploy:
    """The way the bridge goes onto the board on `port`, with a warning where it
    does not fit the chip or the board cannot take the way asked for."""
    from ..rig.reset import is_virtual

    if is_virtual(port):  # a `hil sim` board: the approximate board has no ROMFS
        from ..sim.model import NO_ROMFS, board_model

        taken = board_model().takes(deploy)
        if taken is not deploy:
            _warn(f"--bridge-deploy {deploy.value}: {NO_ROMFS}")
            return taken
    if deploy is Deploy.MPY and firmware.resolve() == BRIDGE_FIRMWARE.resolve():
        _warn(mpy_misfit())
    return deploy


def cmd_deploy(args) -> int:
    from ..rig.board import Board, BoardError
    from ..rig.deploy import build_for, put_on_board
    from ..rig.emulator import EmulatorClient
    from ..rig.firmware import FirmwareError, arch_for_port
    from ..rig.reset import ResetError, is_virtual

    try:
        cfg = load_rig_config(args.rig_config)
        role, port = _port(args, cfg)
        if args.bridge_deploy is not None and role != "bridge":
            raise UsageError("--bridge-deploy is for the bridge: the emulator's firmware fits as .mpy files "
                             "on the filesystem")
        firmware = Path(args.firmware or (args.bridge_firmware if role == "bridge" else None) or FIRMWARE[role])
        deploy = _bridge_deploy(args.bridge_deploy or DEFAULT_DEPLOY, port, firmware) if role == "bridge" else Deploy.MPY
        config = bridge_config(cfg, args) if role == "bridge" else None
        if config is not None:
            problems = check_bridge_config(firmware, config)
            if problems:
                raise UsageError("config.json would not pass the bridge's check:\n  " + "\n  ".join(problems))
        with tempfile.TemporaryDirectory(prefix="hil-build-") as tmp:
            files = build_for(firmware, deploy, Path(tmp), arch_for_port(port),
                              [Path(lib) for lib in args.bridge_lib] if role == "bridge" else ())
    except UsageError as e:
        return _fail(str(e))
    except FirmwareError as e:
        return _fail(f"building {role} firmware: {e}")
    if args.bridge_lib and role != "bridge":
        _warn("--bridge-lib applies to the bridge only; ignored")
    if config is not None:
        _warn("the bridge's RX (GPIO3) is also the P1 line: stop the emulator first (hil play ends by itself; "
              "or unplug its D4 wire), or P1 bytes reach the bridge's REPL and break the copy")
    board = Board(role, port)
    names = [name for name, _ in files.filesystem] + (["config.json"] if config is not None else [])
    try:
        with board:
            _open_repl(board, is_virtual(port))
            with progress_bar(DownloadColumn()) as bar:
                romfs = bar.add_task(f"{role} ROMFS ← {firmware.name}", total=None, visible=bool(files.romfs))
                put = bar.add_task(f"{role} ← {firmware.name}", total=None)
                size = put_on_board(
                    board, files, config,
                    romfs_progress=lambda done, total: bar.update(romfs, completed=done, total=total),
                    put_progress=lambda name, done, total: bar.update(put, description=f"{role} ← {name}",
                                                                      completed=done, total=total))
            if size is not None:
                console.print(f"[green]ROMFS[/] {size:,} bytes written: the bridge's modules run in place "
                              "from /rom after the reset")
            total = files.nbytes + (len(json.dumps(config, indent=1)) if config is not None else 0)
            console.print(f"[green]deployed[/] {len(names)} files ({total} bytes) to the {role} on "
                          f"{escape(port)}: {escape(', '.join(names))}")
            if role == "emulator":
                board.mkdir("captures")
                client = EmulatorClient(board)
                client.start()
                console.print(f"emulator answers: protocol 1, firmware {escape(client.firmware or '?')}; "
                              f"next: hil play --port {escape(args.port or port)} CAPTURE.p1")
                client.stop_serving()
            elif not args.no_reset:
                board.machine_reset()
                console.print(f"bridge reset: it runs main.py and connects to "
                              f"{config['mqtt']['host']}:{config['mqtt']['port']}; watch it with hil monitor "
                              f"--rig-config ... (or --broker-host ... --base-topic {config['base_topic']})")
    except (BoardError, ResetError) as e:
        return _fail(str(e))
    return 0


# --- play ---

def cmd_play(args) -> int:
    from ..oracle.capture_check import check_bytes
    from ..rig.board import Board, BoardError, BoardExecError
    from ..rig.emulator import EmulatorClient

    src = Path(args.file)
    try:
        cfg = load_rig_config(args.rig_config)
        _role, port = _port(args, cfg, default_role="emulator")
        data = src.read_bytes()
    except UsageError as e:
        return _fail(str(e))
    except OSError as e:
        return _fail(f"cannot read {src}: {e.strerror or e}")
    report = check_bytes(data, str(src))
    if not report.ok:
        _warn(f"{src} does not validate (hil captures validate {src}); playing it as it is")
    per_round = max(1, len(report.telegrams))
    name = args.name or src.name
    board = Board("emulator", port)
    client = EmulatorClient(board)
    try:
        with board:
            board.enter_raw_repl()
            remote, copied = upload_capture(board, src.name, name, data)
            if not copied:
                console.print(f"{escape(remote)} is on the emulator already")
            try:
                client.start()
            except BoardExecError as e:
                return _fail(f"the emulator firmware does not run on {port} ({e.traceback.strip().splitlines()[-1]}): "
                             f"hil deploy --role emulator --port {args.port or port}")
            total = per_round * args.count if args.count else None
            with progress_bar(TextColumn("{task.completed}/{task.total} telegrams")) as progress:
                task = progress.add_task(f"playing {src.name}", total=total)

                def on_sent(t) -> None:
                    faults = f" faults={','.join(t.faults)}" if t.faults else ""
                    progress.console.print(f"sent #{t.seq} {escape(t.capture)}: {t.nbytes} bytes in "
                                           f"{t.board_end - t.board_start} ms on the line{faults}")
                    progress.update(task, advance=1)

                try:
                    # the longest wait for one event: a slot, the telegram on the line, slack
                    sent = client.play([remote], args.interval_ms, args.count, on_sent=on_sent,
                                       timeout=15 + 2 * args.interval_ms / 1000)
                except KeyboardInterrupt:
                    board.interrupt()
                    console.print("stopped")
                    return 0
            client.stop_serving()
    except BoardError as e:
        return _fail(str(e))
    console.print(f"[green]played[/] {len(sent)} telegrams of {escape(src.name)}")
    return 0


# --- monitor ---

class _LatestValues:
    """Latest payload per topic, kept as it arrives (memory stays flat however
    long the monitor runs)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.topics: dict[str, tuple[str, float, int, bool]] = {}  # topic → (text, at, count, retained)

    def add(self, topic: str, payload: bytes, retained: bool) -> None:
        with self._lock:
            count = self.topics.get(topic, ("", 0.0, 0, False))[2] + 1
            self.topics[topic] = (payload.decode("utf-8", "replace"), time.monotonic(), count, retained)

    def snapshot(self) -> dict[str, tuple[str, float, int, bool]]:
        with self._lock:
            return dict(self.topics)


def _subscriber(host, port, user, password, base_topic, latest: _LatestValues):
    from ..net.subscriber import Subscriber

    class LatestSubscriber(Subscriber):
        def _on_message(self, client, userdata, msg):
            latest.add(msg.topic, bytes(msg.payload), bool(msg.retain))

    return LatestSubscriber(host, port, user, password, base_topic)


def monitor_view(base_topic: str, latest: dict[str, tuple[str, float, int, bool]], now: float):
    values = Table(title=f"{base_topic}/# — latest values", title_justify="left")
    values.add_column("topic", no_wrap=True)
    values.add_column("value", justify="right")
    values.add_column("age", justify="right")
    values.add_column("n", justify="right")
    status_topic, online_topic = f"{base_topic}/status", f"{base_topic}/online"
    for topic in sorted(latest):
        if topic in (status_topic, online_topic):
            continue
        text, at, count, retained = latest[topic]
        name = topic[len(base_topic) + 1:] if topic.startswith(base_topic + "/") else topic
        values.add_row(escape(name) + (" (retained)" if retained else ""), escape(text[:40]),
                       f"{now - at:.1f} s", str(count))
    status = Table(title="bridge status", title_justify="left", show_header=False)
    status.add_column("key", no_wrap=True)
    status.add_column("value")
    if online_topic in latest:
        status.add_row("online", escape(latest[online_topic][0]))
    if status_topic in latest:
        text, at, _count, _r = latest[status_topic]
        status.add_row("status age", f"{now - at:.1f} s")
        try:
            fields = json.loads(text)
        except ValueError:
            fields = {"(not JSON)": text}
        for key, value in (fields.items() if isinstance(fields, dict) else [("status", fields)]):
            status.add_row(escape(str(key)), escape(json.dumps(value) if not isinstance(value, str) else value))
    if not status.row_count:
        status.add_row("", f"no {online_topic} / {status_topic} yet")
    return Group(values, status)


def cmd_monitor(args, stop: threading.Event | None = None) -> int:
    from rich.live import Live

    from ..net.subscriber import MqttError

    try:
        cfg = load_rig_config(args.rig_config)
    except UsageError as e:
        return _fail(str(e))
    cfg = cfg.with_options(broker_host=args.broker_host, broker_port=args.broker_port, broker_user=args.user,
                           broker_password=args.password, base_topic=args.base_topic)
    host, user, password, base = cfg.broker.host, cfg.broker.user, cfg.broker.password, cfg.topic
    port = cfg.broker.port or DEFAULT_BROKER_PORT
    if not host:
        return _fail("which broker? --broker-host H (or \"broker\": {\"host\": ...} in --rig-config)")
    latest = _LatestValues()
    stop = stop or threading.Event()
    sub = _subscriber(host, int(port), user, password, base, latest)
    try:
        sub.start()
    except (MqttError, OSError) as e:
        return _fail(str(e))
    console.print(f"watching {escape(base)}/# on {escape(host)}:{port}" +
                  (f" for {args.duration:g} s" if args.duration else "; Ctrl-C stops"))
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        with Live(monitor_view(base, {}, time.monotonic()), console=console, refresh_per_second=4) as live:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                live.update(monitor_view(base, latest.snapshot(), time.monotonic()))
                stop.wait(0.25)  # screen refresh pace; messages arrive on paho's thread
            live.update(monitor_view(base, latest.snapshot(), time.monotonic()))
        if not console.is_terminal:
            console.line()
    except KeyboardInterrupt:
        pass
    finally:
        sub.stop()
    return 0


# --- parsers ---

def add_parsers(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("boards", help="list attached ESP8266 boards and which role binding matches each",
                              description=__doc__, formatter_class=fmt)
    p.add_argument("--all", action="store_true", help="every USB serial port, not only ESP8266 adapters")
    p.add_argument("--rig-config", metavar="FILE", help="rig config whose \"boards\" bindings to show")
    p.add_argument("--emulator-port", metavar="SPEC", help="emulator binding to check (overrides the rig config)")
    p.add_argument("--bridge-port", metavar="SPEC", help="bridge binding to check (overrides the rig config)")
    p.set_defaults(func=cmd_boards)

    p = subparsers.add_parser(
        "flash", help="write MicroPython onto a real board with esptool (erase, write, reset)",
        formatter_class=fmt,
        description="Erase the board's flash and write a MicroPython image at address 0 with the flash size "
                    "detected (esptool), then reset it into MicroPython.\n\n"
                    "The image: MicroPython for ESP8266 boards with 2 MB+ flash (the D1 mini has 4 MB), "
                    f"ESP8266_GENERIC v1.28.x, the .bin file from\n  {DOWNLOAD_URL}\n"
                    "The host precompiles firmware with mpy-cross 1.28: keep the board on v1.28.x.\n"
                    "Virtual boards (ptys) run the unix port: there is nothing to flash.")
    _add_port_options(p)
    p.add_argument("--image", required=True, metavar="FILE", help=f"ESP8266_GENERIC v1.28.x .bin ({DOWNLOAD_URL})")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="flashing baud rate (default %(default)s; "
                                                                  "115200 for long or flaky cables)")
    p.add_argument("--no-erase", action="store_true", help="keep the rest of the flash (and the old filesystem)")
    p.set_defaults(func=cmd_flash)

    p = subparsers.add_parser(
        "deploy", help="copy the emulator or bridge firmware (precompiled) to a board",
        formatter_class=fmt,
        description="Copy a firmware, precompiled with mpy-cross, to a board over its raw REPL. For the bridge, "
                    "also config.json built from the rig config (WiFi, broker, base topic) and any --bridge-lib "
                    "modules; then reset it so main.py starts. The bridge's RX is the P1 line: stop the "
                    "emulator before deploying the bridge.\n\nThe rig config" + __doc__.split("The rig config", 1)[1])
    _add_port_options(p, role_required=True)
    p.add_argument("--firmware", metavar="DIR", help="firmware directory (default: this checkout's "
                                                     "meter_emulator/ or bridge_firmware/)")
    p.add_argument("--bridge-firmware", metavar="DIR", help="bridge firmware directory (same as --firmware for "
                                                            "--role bridge)")
    p.add_argument("--bridge-lib", action="append", default=[], metavar="DIR",
                   help="extra modules for the bridge, e.g. a directory with mqtt_as.py; repeatable")
    p.add_argument("--broker-host", help="broker address as the bridge sees it (overrides the rig config)")
    p.add_argument("--broker-port", type=int, help="broker port (overrides the rig config)")
    p.add_argument("--broker-user", help="broker user (overrides the rig config)")
    p.add_argument("--broker-password", help="broker password (overrides the rig config)")
    p.add_argument("--base-topic", help="MQTT base topic (overrides the rig config; default p1)")
    p.add_argument("--no-reset", action="store_true", help="bridge: do not reset after copying")
    add_bridge_deploy(p, default=None, more=". Frozen: flash the image built from its manifest.py first. With "
                      "romfs and frozen only main.py and config.json go onto the filesystem; as mpy this "
                      "project's bridge does not fit the chip")
    p.set_defaults(func=cmd_deploy)

    p = subparsers.add_parser("play", help="play a capture on the emulator board, printing each telegram sent",
                              formatter_class=fmt,
                              description="Upload the capture to the emulator's flash if it is not there "
                                          "already (same SHA-256), then play it: each telegram of the file in "
                                          "turn, one every --interval-ms, --count rounds. Ctrl-C stops.")
    _add_port_options(p, role_default="emulator")
    p.add_argument("file", help="capture file (*.p1: one telegram or a recorded sequence)")
    p.add_argument("--interval-ms", type=int, default=10000, help="time between telegrams (default %(default)s, "
                                                                  "the SX631's; 0 = back to back)")
    p.add_argument("--count", type=int, default=1, help="rounds (default 1; 0 = until Ctrl-C)")
    p.add_argument("--name", help="name on the board (default: the file's name)")
    p.set_defaults(func=cmd_play)

    p = subparsers.add_parser("monitor", help="live table of the bridge's MQTT values (with age) and status",
                              formatter_class=fmt,
                              description="Subscribe to <base-topic>/# and show the latest value of every topic "
                                          "with its age (since it reached this monitor) and count, and the "
                                          "bridge's retained online and status JSON topics. Runs until Ctrl-C "
                                          "(or --duration).")
    p.add_argument("--broker-host", help="broker address (default: the rig config's)")
    p.add_argument("--broker-port", type=int, help="broker port (default: the rig config's, or 1883)")
    p.add_argument("--user", help="broker user")
    p.add_argument("--password", help="broker password")
    p.add_argument("--base-topic", help="base topic (default: the rig config's, or p1)")
    p.add_argument("--rig-config", metavar="FILE", help="take broker and base topic from this rig config")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: Ctrl-C)")
    p.set_defaults(func=cmd_monitor)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
