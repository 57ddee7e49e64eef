"""`hil demo` and `hil sim`: the virtual rig from a terminal.

    hil demo       replay captures through the virtual rig and watch MQTT live
    hil sim        start the virtual rig and print its ports until Ctrl-C
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from decimal import Decimal
from pathlib import Path

from rich.live import Live
from rich.table import Table

from ..oracle.capture_check import usable_capture
from ..p1.captures import CaptureError, load_index
from ..net.subscriber import Subscriber
from .ui import add_bridge_deploy, console, fail
from ..oracle.expected import EXPECT, expected_sequence, matches
from ..oracle.verdict import compare
from ..sim.line import telegram_spans



BYO_DOC = "docs/bring-your-own-bridge.md"


def _values_table(title: str, expected: dict[str, Decimal | str | dict], latest: dict[str, tuple[str, int]]) -> Table:
    table = Table(title=title, expand=False)
    table.add_column("topic", no_wrap=True, min_width=38)
    table.add_column("expected (dsmr-parser)", justify="right")
    table.add_column("received", justify="right")
    table.add_column("n", justify="right")
    table.add_column("")
    for name, want in expected.items():
        got, count = latest.get(name, ("", 0))
        ok = got != "" and matches(got.encode(), want)
        shown = json.dumps(want, default=str, separators=(",", ":")) if isinstance(want, dict) else str(want)
        table.add_row(name, shown, got or "…", str(count), "[green]✓[/]" if ok else ("[red]✗[/]" if got else ""))
    return table


def _demo_captures(choice: str | None) -> list[tuple[str, bytes]]:
    """(name, bytes) of the captures to replay: the library's, one of them by
    name, or a file of the user's (which must validate; CaptureError says why)."""
    index = load_index()
    if choice is None:
        return [(c.file, c.data) for c in index]
    for c in index:
        if choice == c.file:
            return [(c.file, c.data)]
    return [(Path(choice).name, usable_capture(choice))]


def cmd_demo(args) -> int:
    from ..rig.rig import RigError
    from ..rig.session import BridgeSpec, RigSpec, RigUsageError, check_template, open_rig

    try:
        captures = _demo_captures(args.capture)
    except CaptureError as e:
        return fail(str(e))
    summary = {"sent": 0, "received": 0, "values": 0, "matched": 0, "latency": []}
    from ..sim.clock import ClockError
    from ..sim.model import describe_rig

    try:
        board_lines = describe_rig("sim", args.bridge_deploy, board_speed=args.board_speed)
    except ClockError as e:  # a calibration file that cannot be used
        return fail(str(e))
    for line in board_lines:
        console.print(f"[cyan]…[/] {line.strip()}")
    template = None
    if args.bridge_config:
        try:
            template = Path(args.bridge_config).read_text()
            check_template(template)
        except OSError as e:
            return fail(f"--bridge-config {args.bridge_config}: {e.strerror}")
        except RigError as e:
            return fail(f"--bridge-config {args.bridge_config}: {e}")
    spec = RigSpec(base_topic=f"p1demo{os.getpid()}", board_speed=args.board_speed,
                   bridge=BridgeSpec(firmware=args.bridge_firmware, libs=args.bridge_lib, config_template=template,
                                     deploy=args.bridge_deploy))
    try:
        with open_rig(spec, progress=lambda m: console.print(f"[cyan]…[/] {m}")) as session:
            rig, broker = session.rig, session.broker
            console.print(f"[green]rig up:[/] emulator {rig.emulator.port}, bridge {rig.bridge.port}, "
                          f"mosquitto {broker.host}:{broker.port}, topics {rig.base_topic}/#")
            with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
                for name, data in captures:
                    telegrams = expected_sequence(data, args.expect)  # one telegram, or a sequence
                    wants = {n: [t[n] for t in telegrams if n in t] for t in telegrams for n in t}
                    remote = rig.upload_capture(name, data)
                    latest: dict[str, tuple[str, int]] = {}
                    sub.clear()
                    done = threading.Event()
                    sent = []
                    title = name if len(telegrams) == 1 else f"{name} ({len(telegrams)} telegrams)"

                    def table():
                        # Each name against the telegram its latest message belongs to.
                        shown = {n: w[(latest.get(n, ("", 1))[1] - 1) % len(w)] for n, w in wants.items()}
                        return _values_table(title, shown, latest)

                    with Live(table(), console=console, refresh_per_second=8) as live:
                        def on_sent(t):
                            console.print(f"[yellow]→[/] telegram {t.seq} on the P1 line: {t.nbytes} bytes of {name}")

                        player = threading.Thread(target=lambda: (sent.extend(rig.play([remote], args.interval_ms,
                                                                                       args.count, on_sent=on_sent)),
                                                                  done.set()), daemon=True)
                        player.start()
                        deadline = None
                        while True:
                            for m in sub.snapshot():
                                if not m.retain and m.name in wants:
                                    latest[m.name] = (m.text, sum(1 for x in sub.snapshot() if x.name == m.name and not x.retain))
                            live.update(table())
                            if done.is_set():
                                deadline = deadline or time.monotonic() + 5
                                complete = all(latest.get(n, ("", 0))[1] >= len(w) * args.count for n, w in wants.items())
                                if complete or time.monotonic() > deadline:
                                    break
                            time.sleep(0.1)  # screen refresh pace, not synchronisation
                        player.join()
                    by_name = sub.values()
                    spans = telegram_spans(session.sim.line().bursts, [t.nbytes for t in sent])
                    for i, (_s, end) in enumerate(spans or []):
                        names = telegrams[i % len(telegrams)]
                        arrivals = [by_name[n][i].at for n in names if len(by_name.get(n, [])) > i]
                        if len(arrivals) == len(names):
                            summary["latency"].append(max(arrivals) - end)
                    summary["sent"] += len(sent)
                    # Published whole: as often as the name published least often.
                    summary["received"] += min(len(by_name.get(n, [])) for n in wants)
                    summary["values"] += sum(len(t) for t in telegrams) * args.count
                    summary["matched"] += compare(telegrams, by_name, times=args.count).matched
    except RigUsageError as e:  # e.g. frozen on a board that cannot build an image
        return fail(str(e))
    lat = summary["latency"]
    lat_text = (f"median {statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
                if lat else "n/a")
    good = summary["matched"] == summary["values"] and summary["received"] == summary["sent"]
    console.rule("[green]summary" if good else "[red]summary")
    console.print(f"telegrams sent by the emulator:    {summary['sent']}")
    console.print(f"telegrams published whole:         {summary['received']}")
    console.print(f"values matched (MQTT vs oracle):   {summary['matched']} / {summary['values']}")
    console.print(f"end of telegram → last value:      {lat_text}")
    return 0 if good else 1


def cmd_sim(args) -> int:
    import contextlib

    from ..farm.client import FarmError
    from ..sim.handle import VirtualRig

    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(VirtualRig(args.workdir, board_speed=args.board_speed))
        info = {"ports": sim.ports, "control": sim.control_path}
        if args.labgrid_exporter:
            from ..farm.coordinator import Exporter
            from ..farm.virtual import PowerRelay, place_commands, write_exporter_config

            relay = stack.enter_context(PowerRelay(sim.reset, host=args.labgrid_hostname))
            config = write_exporter_config(sim.ports, relay.url, sim.workdir / "labgrid-exporter.yaml")
            try:
                stack.enter_context(Exporter(sim.workdir / "labgrid", config, args.labgrid_exporter,
                                             args.labgrid_name, hostname=args.labgrid_hostname, expect=3))
            except FarmError as e:
                fail(f"hil sim --labgrid-exporter: {e}")
                return 1
            info["labgrid"] = {"coordinator": args.labgrid_exporter, "exporter": args.labgrid_name,
                               "config": str(config),
                               "place": [" ".join(c) for c in place_commands("PLACE", args.labgrid_name)]}
        print(json.dumps(info), flush=True)  # one line: a script waits for it (the rig is up then)
        console.print("virtual rig running; Ctrl-C to stop")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _board_speed_option(parser) -> None:
    from ..sim.clock import DEFAULT_SPEED, SPEEDS

    parser.add_argument("--board-speed", choices=SPEEDS, default=DEFAULT_SPEED,
                        help="the virtual boards compute as an 80 MHz ESP8266 (chip) or as fast as this "
                             "machine (host) (default %(default)s)")


def add_parsers(sub) -> None:
    """Add `demo` and `sim` to an argparse subparsers object."""
    demo = sub.add_parser("demo", help="replay captures through the virtual rig, show MQTT values live")
    demo.add_argument("--count", type=int, default=3,
                      help="times through each capture (default 3); a capture may hold a sequence of telegrams")
    demo.add_argument("--interval-ms", type=int, default=1000, help="time between telegrams (the meter: 10000)")
    demo.add_argument("--capture", metavar="NAME|FILE",
                      help="only this capture: a name in captures/ or a file of yours (default: all in captures/)")
    demo.add_argument("--bridge-firmware", type=Path, metavar="DIR",
                      help=f"your bridge's firmware directory (default: this project's; contract: {BYO_DOC})")
    demo.add_argument("--bridge-lib", type=Path, action="append", default=[], metavar="DIR",
                      help="extra modules for the bridge, e.g. a directory with mqtt_as.py; repeatable")
    demo.add_argument("--bridge-config", metavar="FILE",
                      help=f"your bridge's config.json as a template with $broker_host etc. (see {BYO_DOC})")
    add_bridge_deploy(demo)
    demo.add_argument("--expect", choices=EXPECT, default="all",
                      help="names to expect: all (this project's bridge) or contract (the 35 seed names)")
    demo.set_defaults(func=cmd_demo)
    _board_speed_option(demo)
    sim = sub.add_parser("sim", help="start the virtual rig and print its ports until Ctrl-C")
    sim.add_argument("--workdir", help="directory for the boards' flash (default: a temporary one)")
    _board_speed_option(sim)
    sim.add_argument("--labgrid-exporter", metavar="HOST:PORT",
                     help="also publish the two boards' ports to this labgrid coordinator, as RawSerialPort "
                          "resources served by ser2net (docs/farm.md); prints the labgrid-client calls for a place")
    sim.add_argument("--labgrid-name", default="hil-sim", metavar="NAME",
                     help="the exporter's name at the coordinator (default %(default)s)")
    sim.add_argument("--labgrid-hostname", default="127.0.0.1", metavar="HOST",
                     help="address clients reach the ports at (default %(default)s: this machine only)")
    sim.set_defaults(func=cmd_sim)
