"""`hil adapter-check`: does a soldered BC547 adapter work, and with what margin?

    hil adapter-check [--r1 10k --r2 1k --r3 1k --c-cable 100p --c-rx 10p] [--telegrams 200]
        on the virtual rig (default): the SPICE edge delays of those component
        values (hil.circuit.spice.edge_delays) configure the virtual P1 line, so a
        bad value gives the bit errors it gives on the bench
    hil adapter-check --emulator-port SPEC --bridge-port SPEC --broker-host H --rig-config FILE
        on the real boards, through the real adapter

Either way the same procedure: telegrams back to back at 115200 baud and at
±2 % (the emulator's `line baud=`), counted by the bridge's log lines; per baud
the telegram error rate, and the bridge's `<base>/status` counters. Pass: no
error at any of the three bauds. Exit code 0 pass, 1 fail, 2 usage error.
"""
from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..circuit.spice import Adapter, check, parse_si
from ..rig.adapter_check import BAUD_SPREAD, AdapterReport, check_adapter
from ..rig.session import BridgeSpec, RigSpec, RigUsageError, bench_spec, open_rig
from .ui import add_bridge_deploy, console, run_alone


# --- rig bring-up: hil.rig.session.open_rig, from this command's options ----------------------
def _rig_spec(args, sim: bool) -> RigSpec:
    """The rig to bring up: the virtual one, or the boards and broker of the rig config."""
    if sim:
        return RigSpec(bridge=BridgeSpec(deploy=args.bridge_deploy))
    return bench_spec(args.rig_config, broker_host=args.broker_host, emulator_port=args.emulator_port,
                      bridge_port=args.bridge_port, bridge_deploy=args.bridge_deploy)


class UsageError(Exception):
    pass


# --- the command -------------------------------------------------------------------------
def _adapter(args) -> Adapter:
    return Adapter(r1=args.r1, r2=args.r2, r3=args.r3, c_cable=args.c_cable, c_rx=args.c_rx,
                   cable_at=args.cable_at)


def _capture(name: str | None) -> bytes:
    from ..p1.captures import load_index, sx631
    if name is None:
        return sx631().data
    caps = load_index()
    pick = next((c for c in caps if c.file == name), None)
    if pick is None:
        raise UsageError(f"no capture {name!r}; have: {[c.file for c in caps]}")
    return pick.data


def print_report(report: AdapterReport, adapter: Adapter | None) -> None:
    table = Table(title="adapter check: telegrams through the adapter, back to back")
    for col in ("baud", "sent", "ok", "errors", "error rate", "crc", "truncated", "framing"):
        table.add_column(col, justify="right")
    for r in report.results:
        table.add_row(str(r.baud), str(r.sent), str(r.ok), str(r.errors), f"{r.error_rate:.1%}",
                      *(str(r.log_errors[k]) for k in ("crc", "truncated", "framing")))
    console.print(table)
    if report.edge_delays_us:
        console.print(f"virtual line: RX rise delay {report.edge_delays_us[0]:.3f} µs, "
                      f"fall delay {report.edge_delays_us[1]:.3f} µs (SPICE)")
    if report.line:
        console.print(f"virtual line: {report.line.get('framing_errors', 0)} framing errors, "
                      f"{report.line.get('bytes_sent', 0)} bytes sent, {report.line.get('bytes_received', 0)} received")
    if report.status_missing:
        console.print(f"[yellow]no bridge status read: {report.status_missing}")
    if report.status:
        keys = ("telegrams_ok", "crc_errors", "truncated", "framing", "garbage", "overlong", "uptime_s")
        console.print("bridge status: " + ", ".join(f"{k}={report.status[k]}" for k in keys if k in report.status))
    verdict = "[green]PASS[/]: no telegram lost at 115200 baud ±2 %" if report.passed else \
        "[red]FAIL[/]: telegrams were lost; see the error rate per baud"
    console.print(verdict)


def cmd_adapter_check(args) -> int:
    sim = not (args.emulator_port or args.bridge_port) or args.sim
    try:
        adapter = _adapter(args)
        capture = _capture(args.capture)
    except (UsageError, ValueError) as e:
        console.print(f"[red]{e}")
        return 2
    progress = lambda m: console.print(f"[cyan]…[/] {m}")  # noqa: E731
    if sim:
        timing = check(adapter)
        console.print(f"SPICE ({adapter.describe()}): rise {timing.rise_time * 1e9:.0f} ns, "
                      f"fall {timing.fall_time * 1e9:.0f} ns, TX→RX rising {timing.rise_delay * 1e6:.2f} µs, "
                      f"falling {timing.fall_delay * 1e6:.2f} µs; {timing.reason()}")
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with open_rig(_rig_spec(args, sim), progress) as session, \
                Progress(*columns, console=console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done)

            report = check_adapter(session.rig, session.broker, args.telegrams, capture, spread=args.spread,
                                   sim=session.sim, adapter=adapter if sim else None, on_progress=on_progress)
    except (UsageError, RigUsageError) as e:
        console.print(f"[red]{e}")
        return 2
    print_report(report, adapter if sim else None)
    return 0 if report.passed else 1


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("adapter-check", help="error rate through the BC547 adapter at 115200 baud ±2 %%",
                              description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--r1", type=parse_si, default=10e3, metavar="OHM", help="Data → +5V pull-up (default 10k)")
    p.add_argument("--r2", type=parse_si, default=1e3, metavar="OHM", help="3V3 → collector (default 1k)")
    p.add_argument("--r3", type=parse_si, default=1e3, metavar="OHM", help="Data → base (default 1k)")
    p.add_argument("--c-cable", type=parse_si, default=100e-12, metavar="F", help="cable capacitance (default 100p)")
    p.add_argument("--c-rx", type=parse_si, default=10e-12, metavar="F", help="capacitance at RX (default 10p)")
    p.add_argument("--cable-at", choices=("data", "rx"), default="data",
                   help="data: adapter at the board, cable to the meter (default); rx: adapter at the meter")
    p.add_argument("--telegrams", type=int, default=200, help="telegrams per baud (default 200)")
    p.add_argument("--spread", type=float, default=BAUD_SPREAD, help="baud offset to test, ± (default 0.02)")
    p.add_argument("--capture", help="capture file to send (default: the SX631 telegram)")
    p.add_argument("--sim", action="store_true", help="the virtual rig (default without --emulator-port)")
    p.add_argument("--emulator-port", metavar="SPEC", help="real emulator board (device, serial:…, location:…)")
    p.add_argument("--bridge-port", metavar="SPEC", help="real bridge board")
    p.add_argument("--broker-host", help="this PC's LAN address for mosquitto (real boards)")
    p.add_argument("--rig-config", metavar="FILE", help="the bench's rig config with WiFi (real boards)")
    add_bridge_deploy(p)
    p.set_defaults(func=cmd_adapter_check)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
