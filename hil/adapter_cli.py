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

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .circuit.spice import Adapter, check, edge_delays, parse_si, si
from .rig import benchconfig
from .rig.board import BoardTimeout
from .session import RigSpec, RigUsageError, open_rig
from .ui import console

NOMINAL_BAUD = 115200
BAUD_SPREAD = 0.02
OK_LINE = r"^bridge: telegram ok"
ERROR_PREFIXES = {"crc": "bridge: crc error", "truncated": "bridge: truncated", "framing": "bridge: framing"}


@dataclass
class BaudResult:
    baud: int
    sent: int
    ok: int
    log_errors: dict[str, int]

    @property
    def errors(self) -> int:
        return self.sent - self.ok

    @property
    def error_rate(self) -> float:
        return self.errors / self.sent if self.sent else 1.0


@dataclass
class AdapterReport:
    results: list[BaudResult]
    edge_delays_us: tuple[float, float] | None = None  # (rise, fall) fed to the virtual line
    status: dict | None = None  # the bridge's retained <base>/status, if any
    line: dict = field(default_factory=dict)  # virtual line statistics

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.errors == 0 for r in self.results)


def bauds(spread: float = BAUD_SPREAD) -> list[int]:
    return [NOMINAL_BAUD, round(NOMINAL_BAUD * (1 + spread)), round(NOMINAL_BAUD * (1 - spread))]


def configure_sim(sim, adapter: Adapter) -> tuple[float, float]:
    """Set the virtual line's adapter edge delays from SPICE; returns them in µs."""
    rise, fall = edge_delays(adapter)
    rise_us, fall_us = rise * 1e6, fall * 1e6
    sim.control(cmd="adapter", mode="ok", rise_us=rise_us, fall_us=fall_us)
    return rise_us, fall_us


def _count(lines: list[str]) -> tuple[int, dict[str, int]]:
    ok = sum(1 for line in lines if line.startswith("bridge: telegram ok"))
    errors = {k: sum(1 for line in lines if line.startswith(p)) for k, p in ERROR_PREFIXES.items()}
    return ok, errors


def run_check(rig, capture: bytes, telegrams: int, *, spread: float = BAUD_SPREAD,
              on_progress: Callable[[str, int, int], None] = lambda label, done, total: None,
              settle_s: float = 3.0) -> list[BaudResult]:
    """Play `telegrams` copies of `capture` back to back at each baud; count
    the bridge's verdicts. The emulator's baud is back at 115200 afterwards."""
    remote = rig.upload_capture("adapter-check.p1", capture)
    results = []
    try:
        for baud in bauds(spread):
            label = f"{baud} baud"
            rig.emu.command(f"line baud={baud} invert=1")
            since = rig.bridge.mark()
            done = [0]

            def sent(record, label=label) -> None:
                done[0] += 1
                on_progress(label, done[0], telegrams)

            on_progress(label, 0, telegrams)
            rig.play([remote], interval_ms=0, count=telegrams, on_sent=sent,
                     timeout=30 + telegrams * (len(capture) * 10 / baud + 0.3))
            try:  # the last telegrams are still in the bridge's hands
                rig.bridge.expect_lines(OK_LINE, telegrams, settle_s, since=since)
            except BoardTimeout:
                pass  # some went bad: count what came
            ok, errors = _count(list(rig.bridge.log.lines[since:]))
            results.append(BaudResult(baud, done[0], min(ok, done[0]), errors))
    finally:
        rig.emu.command(f"line baud={NOMINAL_BAUD} invert=1")
    return results


def read_status(host: str, port: int, user: str, password: str, base_topic: str, timeout: float = 2.0) -> dict | None:
    """The bridge's retained `<base>/status` JSON, or None."""
    from .mqtt import MqttError, Subscriber
    try:
        with Subscriber(host, port, user, password, base_topic) as sub:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for m in reversed(sub.messages):
                    if m.topic == f"{base_topic}/status":
                        return json.loads(m.payload)
                time.sleep(0.05)
    except (OSError, ValueError, MqttError) as e:  # the status is extra information: say so, go on
        console.print(f"[yellow]no bridge status read: {type(e).__name__}: {e}")
    return None


# --- rig bring-up: hil.session.open_rig, from this command's options ----------------------
def _rig_spec(args, sim: bool) -> RigSpec:
    """The rig to bring up: the virtual one, or the boards and broker of the rig config."""
    if sim:
        return RigSpec()
    try:
        cfg = benchconfig.load_rig_config(args.rig_config)
    except benchconfig.RigConfigError as e:
        raise UsageError(str(e)) from e
    wifi, broker, boards = cfg.get("wifi"), cfg.get("broker") or {}, cfg.get("boards") or {}
    return RigSpec(kind="usb", broker_host=args.broker_host or broker.get("host"),
                   broker_port=int(broker.get("port", 0)), base_topic=cfg.get("base_topic", "p1"),
                   bindings={"emulator": args.emulator_port or boards.get("emulator"),
                             "bridge": args.bridge_port or boards.get("bridge")},
                   wifi=(wifi["ssid"], wifi.get("password", "")) if wifi and wifi.get("ssid") else None)


class UsageError(Exception):
    pass


# --- the command -------------------------------------------------------------------------
def _adapter(args) -> Adapter:
    return Adapter(r1=args.r1, r2=args.r2, r3=args.r3, c_cable=args.c_cable, c_rx=args.c_rx,
                   cable_at=args.cable_at)


def _capture(name: str | None) -> bytes:
    from .captures import load_index
    caps = load_index()
    pick = next((c for c in caps if (name is None and c.file.startswith("sx631")) or c.file == name), None)
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
    if report.status:
        keys = ("telegrams_ok", "crc_errors", "truncated", "framing", "garbage", "overlong", "uptime_s")
        console.print("bridge status: " + ", ".join(f"{k}={report.status[k]}" for k in keys if k in report.status))
    verdict = "[green]PASS[/]: no telegram lost at 115200 baud ±2 %" if report.passed else \
        "[red]FAIL[/]: telegrams were lost; see the error rate per baud"
    console.print(verdict)


def check_adapter(rig, broker, telegrams: int, capture: bytes, *, sim=None, adapter: Adapter | None = None,
                  spread: float = BAUD_SPREAD) -> AdapterReport:
    """The whole check on a running rig. On the virtual rig (`sim`, a
    VirtualRigProcess) the line takes `adapter`'s SPICE edge delays for the
    run and is set back to an ideal adapter afterwards."""
    if (sim is None) != (adapter is None):
        raise ValueError("give both sim and adapter (virtual rig) or neither (real boards)")
    delays = configure_sim(sim, adapter) if adapter is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def on_progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        before = sim.control(cmd="stats")["line"] if sim is not None else {}
        try:
            results = run_check(rig, capture, telegrams, spread=spread, on_progress=on_progress)
        finally:
            if sim is not None:
                after = sim.control(cmd="stats")["line"]
                sim.control(cmd="adapter", mode="ok", rise_us=0, fall_us=0)
    line = {}
    if sim is not None:
        line = {k: after[k] - before.get(k, 0) for k in ("framing_errors", "bytes_sent", "bytes_received")}
    status = read_status(broker.host, broker.port, broker.user, broker.password, rig.base_topic)
    return AdapterReport(results, delays, status, line)


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
        with open_rig(_rig_spec(args, sim), progress) as session:
            report = check_adapter(session.rig, session.broker, args.telegrams, capture, spread=args.spread,
                                   sim=session.sim, adapter=adapter if sim else None)
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
    p.set_defaults(func=cmd_adapter_check)


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="hil")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
