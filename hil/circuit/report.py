"""The SPICE check's artefacts in docs/circuit: a component sweep (CSV and
heat maps), waveform plots, and SPICE.md with the figures.

    python -m hil.circuit [--out docs/circuit] [--no-sweep]
"""
from __future__ import annotations

import csv
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .spice import (BAUD_TOLERANCE, MODEL_VERSION, VIH_FRACTION, VIL_FRACTION, Adapter, Timing,  # noqa: E402
                    check, measure, si, simulate)

DOCUMENTED = Adapter()
FAILING = Adapter(r2=47e3, c_cable=2e-9, cable_at="rx")  # adapter at the meter, 2 nF of cable to RX

SWEEP = {
    "driver": ["emulator", "meter"],
    "r2": [470, 1e3, 2.2e3, 4.7e3, 10e3, 22e3, 47e3],
    "r3": [1e3, 4.7e3, 22e3],
    "c_cable": [100e-12, 470e-12, 1e-9, 2e-9, 4.7e-9],
    "c_rx": [10e-12, 33e-12, 100e-12, 330e-12],
}
FIELDS = ["driver", "r2", "r3", "c_cable", "c_rx", "ok", "margin_us", "margin_bit", "opening_us",
          "rise_delay_us", "fall_delay_us", "storage_us", "rise_time_us", "fall_time_us", "reason"]


def row(t: Timing) -> dict:
    a, bit = t.adapter, t.adapter.bit_s
    us = lambda s: round(s * 1e6, 3) if np.isfinite(s) else "inf"  # noqa: E731
    return {"driver": a.driver, "r2": a.r2, "r3": a.r3, "c_cable": a.c_cable, "c_rx": a.c_rx,
            "ok": int(t.ok), "margin_us": us(t.margin), "margin_bit": round(t.margin / bit, 3),
            "opening_us": us(t.opening), "rise_delay_us": us(t.rise_delay), "fall_delay_us": us(t.fall_delay),
            "storage_us": us(t.storage_time), "rise_time_us": us(t.rise_time), "fall_time_us": us(t.fall_time),
            "reason": t.reason()}


def sweep(grid: dict = SWEEP, base: Adapter = DOCUMENTED, workers: int | None = None,
          progress: Callable[[int, int], None] = lambda done, total: None) -> list[dict]:
    names = list(grid)
    combos = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    rows: list[dict] = []
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:  # ngspice runs in its own process
        for r in pool.map(lambda kw: row(check(replace(base, **kw))), combos):
            rows.append(r)
            progress(len(rows), len(combos))
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)


def boundary(rows: list[dict]) -> list[str]:
    """Per driver, R3 = 1 kΩ: the largest R2 that passes for each C_rx (C_cable
    100 pF) and for each C_cable (C_rx 10 pF)."""
    out = []
    for driver in SWEEP["driver"]:
        sel = [r for r in rows if r["driver"] == driver and r["r3"] == 1e3]
        for c_rx in SWEEP["c_rx"]:
            ok = [r["r2"] for r in sel if r["c_rx"] == c_rx and r["c_cable"] == 100e-12 and r["ok"]]
            out.append(f"{driver}, C_cable 100 pF, C_rx {si(c_rx, 'F')}: R2 ≤ {si(max(ok), 'Ω')} passes"
                       if ok else f"{driver}, C_cable 100 pF, C_rx {si(c_rx, 'F')}: no R2 passes")
        for c_cable in SWEEP["c_cable"]:
            ok = [r["r2"] for r in sel if r["c_cable"] == c_cable and r["c_rx"] == 10e-12 and r["ok"]]
            out.append(f"{driver}, C_rx 10 pF, C_cable {si(c_cable, 'F')}: R2 ≤ {si(max(ok), 'Ω')} passes"
                       if ok else f"{driver}, C_rx 10 pF, C_cable {si(c_cable, 'F')}: no R2 passes")
    return out


def heatmaps(rows: list[dict], path: Path) -> None:
    """Sampling margin (% of a bit; ≤ 0 = bit errors) over R2 × C_rx and
    R2 × C_cable, per driver, R3 = 1 kΩ."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), constrained_layout=True)
    r2s = SWEEP["r2"]
    for i, driver in enumerate(SWEEP["driver"]):
        for j, (var, fixed, fixed_val) in enumerate((("c_rx", "c_cable", 100e-12), ("c_cable", "c_rx", 10e-12))):
            ys = SWEEP[var]
            m = np.full((len(ys), len(r2s)), np.nan)
            for r in rows:
                if r["driver"] == driver and r["r3"] == 1e3 and r[fixed] == fixed_val:
                    m[ys.index(r[var]), r2s.index(r["r2"])] = 100 * r["margin_bit"]
            ax = axes[i][j]
            im = ax.imshow(np.clip(m, -50, 50), cmap="RdYlGn", vmin=-50, vmax=50, origin="lower", aspect="auto")
            for (y, x), v in np.ndenumerate(m):
                ax.text(x, y, "FAIL" if v <= 0 else f"{v:.0f}%", ha="center", va="center", fontsize=8,
                        color="white" if v <= 0 else "black", fontweight="bold" if v <= 0 else "normal")
            ax.set_xticks(range(len(r2s)), [si(v, "Ω") for v in r2s])
            ax.set_yticks(range(len(ys)), [si(v, "F") for v in ys])
            ax.set_xlabel("R2 (3V3 → collector)")
            ax.set_ylabel("C_rx (at RX)" if var == "c_rx" else "C_cable (data line)")
            ax.set_title(f"{driver} driver, R3 1 kΩ, {fixed.replace('c_', 'C_')} {si(fixed_val, 'F')}")
    fig.colorbar(im, ax=axes, label=f"sampling margin at ±{BAUD_TOLERANCE:.0%} baud, % of a bit (≤ 0: bit errors)")
    fig.suptitle("BC547 adapter at 115200 baud (ngspice): where it stops working")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def waveforms(cases: list[tuple[str, Adapter]], path: Path) -> list[Timing]:
    fig, axes = plt.subplots(len(cases), 1, figsize=(13, 3.6 * len(cases)), constrained_layout=True, squeeze=False)
    out = []
    for ax, (title, a) in zip(axes[:, 0], cases):
        w = simulate(a)
        t = measure(a, w)
        out.append(t)
        us = w.t * 1e6
        ax.plot(us, w.tx, label="TX (emulator D4 / meter)", lw=0.9, color="0.55")
        ax.plot(us, w.data, label="Data (RJ12 pin 5)", lw=0.9, color="tab:orange")
        ax.plot(us, w.base, label="BC547 base", lw=0.9, color="tab:purple")
        ax.plot(us, w.rx, label="RX (GPIO3)", lw=1.6, color="tab:blue")
        for frac, name in ((VIL_FRACTION, "VIL"), (VIH_FRACTION, "VIH")):
            ax.axhline(frac * a.vdd, ls="--", lw=0.7, color="k")
            ax.text(us[-1], frac * a.vdd, f" {name}", va="center", fontsize=8)
        ax.set_ylim(-0.3, 5.3)
        ax.set_xlim(us[0], us[-1])
        ax.set_ylabel("V")
        verdict = "PASS" if t.ok else "FAIL"
        ax.set_title(f"{title} — {a.describe()} — {verdict}, margin {t.margin * 1e6:.2f} µs", fontsize=10)
        ax.legend(loc="upper right", fontsize=8, ncol=4)
    axes[-1, 0].set_xlabel("µs (bytes 0x55 0x00 0xFF 0x55 0xF0 0x0F at 115200 baud)")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return out


def spice_md(cases: list[tuple[str, Timing]], bounds: list[str], path: Path) -> None:
    lines = ["# SPICE check of the adapter (generated by `python -m hil.circuit`; do not edit)", "",
             f"ngspice transient at 115200 baud, bytes 0x55 0x00 0xFF 0x55 0xF0 0x0F; model version "
             f"{MODEL_VERSION}; netlist and BC547B model card with its datasheet sources in "
             "`hil/circuit/spice.py`. Thresholds at RX: VIL = 0.25·VDD, VIH = 0.75·VDD (ESP8266). "
             f"Margin: smallest distance from the receiver's mid-bit sample instants (baud error up to "
             f"±{BAUD_TOLERANCE:.0%}) to the edge of a bit's valid region.", "",
             "| case | rise 10–90 % | fall 90–10 % | TX→RX rising past VIH | TX→RX falling past VIL | "
             "storage | shortest bit opening | margin | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    us = lambda s: "never" if not np.isfinite(s) else f"{s * 1e6:.2f} µs"  # noqa: E731
    for title, t in cases:
        bit = t.adapter.bit_s
        lines.append(f"| {title}: {t.adapter.describe()} | {us(t.rise_time)} | {us(t.fall_time)} | "
                     f"{us(t.rise_delay)} | {us(t.fall_delay)} | {us(t.storage_time)} | "
                     f"{us(t.opening)} ({t.opening / bit:.0%}) | {t.margin * 1e6:.2f} µs ({t.margin / bit:.0%}) | "
                     f"{'pass' if t.ok else 'FAIL'} |")
    lines += ["", "Verdicts in words:", ""]
    lines += [f"- {title}: {t.reason()}" for title, t in cases]
    if bounds:
        lines += ["", "## Where it stops working (sweep.csv, sweep.png; R3 = 1 kΩ)", ""]
        lines += [f"- {b}" for b in bounds]
    path.write_text("\n".join(lines) + "\n")


CASES = [
    ("documented, rig", DOCUMENTED),
    ("documented, meter", replace(DOCUMENTED, driver="meter")),
    ("documented, 2× storage time", replace(DOCUMENTED, tr_scale=2.0)),
    ("R2 47 kΩ + 2 nF cable on the data line", replace(DOCUMENTED, r2=47e3, c_cable=2e-9)),
    ("R2 47 kΩ + 2 nF cable to RX (failing variant)", FAILING),
    ("documented, meter, 2 nF cable", replace(DOCUMENTED, driver="meter", c_cable=2e-9)),
]


def generate(out: Path, do_sweep: bool = True, progress: Callable[[int, int], None] = lambda d, t: None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    waveforms([CASES[0], CASES[3], CASES[4]], out / "waveforms.png")
    timings = [(title, check(a)) for title, a in CASES]
    bounds = []
    if do_sweep:
        rows = sweep(progress=progress)
        write_csv(rows, out / "sweep.csv")
        heatmaps(rows, out / "sweep.png")
        bounds = boundary(rows)
    spice_md(timings, bounds, out / "SPICE.md")
