"""The adapter check as a procedure on a running rig: telegrams back to back
through the adapter at 115200 baud and at ±2 %, counted by the bridge's log
lines, with the virtual line's counters and the bridge's status. `hil
adapter-check` (hil/cli/adapter.py) runs it and shows the result.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from ..circuit.spice import Adapter, edge_delays
from .board import BoardTimeout

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
    # Framing errors on the virtual line while this baud's telegrams played;
    # not while the emulator changed baud: its UART re-init clears the
    # inversion until the next statement sets it again, microseconds on the
    # chip, up to the virtual board's 20 ms sleep step here.
    line_framing: int | None = None

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
    status_missing: str = ""  # why no status was read

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.errors == 0 for r in self.results)


def bauds(spread: float = BAUD_SPREAD) -> list[int]:
    return [NOMINAL_BAUD, round(NOMINAL_BAUD * (1 + spread)), round(NOMINAL_BAUD * (1 - spread))]


def configure_sim(sim, adapter: Adapter) -> tuple[float, float]:
    """Set the virtual line's adapter edge delays from SPICE; returns them in µs."""
    rise, fall = edge_delays(adapter)
    rise_us, fall_us = rise * 1e6, fall * 1e6
    sim.set_adapter("ok", rise_us, fall_us)
    return rise_us, fall_us


def _count(lines: list[str]) -> tuple[int, dict[str, int]]:
    ok = sum(1 for line in lines if line.startswith("bridge: telegram ok"))
    errors = {k: sum(1 for line in lines if line.startswith(p)) for k, p in ERROR_PREFIXES.items()}
    return ok, errors


def run_check(rig, capture: bytes, telegrams: int, *, spread: float = BAUD_SPREAD,
              on_progress: Callable[[str, int, int], None] = lambda label, done, total: None,
              settle_s: float = 3.0, framing: Callable[[], int] | None = None) -> list[BaudResult]:
    """Play `telegrams` copies of `capture` back to back at each baud; count
    the bridge's verdicts. The emulator's baud is back at 115200 afterwards.
    framing: the virtual line's framing errors so far, to count each baud's
    while its telegrams play (BaudResult.line_framing)."""
    remote = rig.upload_capture("adapter-check.p1", capture)
    results = []
    try:
        for baud in bauds(spread):
            label = f"{baud} baud"
            rig.emulator_client.command(f"line baud={baud} invert=1")
            since = rig.bridge.mark()
            framing_before = framing() if framing else None
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
            results.append(BaudResult(baud, done[0], min(ok, done[0]), errors,
                                      framing() - framing_before if framing else None))
    finally:
        rig.emulator_client.command(f"line baud={NOMINAL_BAUD} invert=1")
    return results


def read_status(host: str, port: int, user: str, password: str, base_topic: str,
                timeout: float = 2.0) -> tuple[dict | None, str]:
    """The bridge's retained `<base>/status` JSON (None if it has none), and
    why it could not be read ("" when it was): the status is extra information."""
    from ..net.subscriber import MqttError, Subscriber
    try:
        with Subscriber(host, port, user, password, base_topic) as sub:
            if sub.wait_for(lambda msgs: any(m.name == "status" for m in msgs), timeout):
                return json.loads([m for m in sub.snapshot() if m.name == "status"][-1].payload), ""
            return None, f"no {base_topic}/status within {timeout} s"
    except (OSError, ValueError, MqttError) as e:
        return None, f"{type(e).__name__}: {e}"


# --- rig bring-up: hil.rig.session.open_rig, from this command's options ----------------------
def check_adapter(rig, broker, telegrams: int, capture: bytes, *, sim=None, adapter: Adapter | None = None,
                  spread: float = BAUD_SPREAD,
                  on_progress: Callable[[str, int, int], None] = lambda label, done, total: None) -> AdapterReport:
    """The whole check on a running rig. On the virtual rig (`sim`, a
    VirtualRig) the line takes `adapter`'s SPICE edge delays for the
    run and is set back to an ideal adapter afterwards."""
    if (sim is None) != (adapter is None):
        raise ValueError("give both sim and adapter (virtual rig) or neither (real boards)")
    delays = configure_sim(sim, adapter) if adapter is not None else None
    before = sim.line() if sim is not None else None
    try:
        results = run_check(rig, capture, telegrams, spread=spread, on_progress=on_progress,
                            framing=(lambda: sim.line().framing_errors) if sim is not None else None)
    finally:
        if sim is not None:
            after = sim.line()
            sim.set_adapter("ok")
    line = {}
    if sim is not None:
        line = {k: getattr(after, k) - getattr(before, k) for k in ("framing_errors", "bytes_sent", "bytes_received")}
    status, status_missing = read_status(broker.host, broker.port, broker.user, broker.password, rig.base_topic)
    return AdapterReport(results, delays, status, line, status_missing)
