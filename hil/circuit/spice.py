"""SPICE model of the BC547 P1 adapter (docs/circuit), run with ngspice.

The netlist is generated here and run with `ngspice -b`; its `wrdata` output
is parsed with numpy. No Python SPICE binding: the Debian ngspice executable
is the whole dependency, and the netlist stays readable (`Adapter.netlist()`).

Circuit (docs/ARCHITECTURE.md §6; node names as in the netlist):

    driver ── data ──┬── R1 ── +5V         RX = BC547 collector ── R2 ── 3V3
                     ├── C_cable           C_rx at RX (wires + ESP8266 pin)
                     └── R3 ── base        BC547 emitter ── GND

Drivers of the data line:
  emulator  the rig: the meter emulator's UART1 TX (GPIO2/D4), a 3.3 V push-pull
            CMOS output, inverted like a meter (idle = 0 V). Modelled as an
            ideal source behind `r_out` (ESP8266 GPIO: 12 mA drive at VOL ≤
            0.1·VDD gives ≈ 30 Ω; 40 Ω is used).
  meter     a real meter: an open collector on RJ12 pin 5 (on = data low,
            idle = on), pulled up only by the adapter's R1 through the cable
            capacitance. Modelled as a switch with 20 Ω on-resistance.

What is measured (see `Timing`): at the RX pin, 10–90 % rise and fall
times; per edge direction the propagation delay from the TX edge to RX
crossing the ESP8266 input threshold the receiver needs (falling: VIL =
0.25·VDD, rising: VIH = 0.75·VDD; ESP8266 datasheet, digital IO); storage
time (TX edge until the collector starts to rise); and the opening of each
received bit: the part of its slot, counted from the received start edge as a
UART counts, where the level is valid. A bit is read right if the receiver's
mid-bit sample lands in the opening for any baud error up to ±2 % (the rig's
baud sweep). The margin is the smallest distance from those sample instants
to the edge of an opening.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

# --- BC547B model card ------------------------------------------------------------
# Gummel-Poon parameters fitted to datasheet figures (typical values unless noted):
#   onsemi BC546/D (BC547B): hFE 290 typ (200..450) at IC = 2 mA, VCE = 5 V       → BF
#     fT 300 MHz typ at IC = 10 mA, VCE = 5 V, f = 100 MHz → TF = 1/(2π fT) minus
#     the junction-charging part ≈ 0.5 ns
#     Cobo 1.7 pF typ at VCB = 10 V, f = 1 MHz → CJC(0 V) = 1.7·(1 + 10/0.4)^0.3 ≈ 4 pF
#   NXP BC847 series (same die family): VBE 655 mV typ at IC = 2 mA, VCE = 5 V     → IS
#     VCEsat ≤ 100 mV at IC = 10 mA, IB = 0.5 mA (BR, RC); VBEsat 755 mV typ there
#     Ce 11 pF typ at VEB = 0.5 V, f = 1 MHz → CJE(0 V) = 11·(1 − 0.5/0.65)^0.33 ≈ 7 pF
#   VAF 63 V, IKF, ISE/NE, IKR, ISC/NC: NXP's published BC547B model card.
# Storage time: no BC547 datasheet (onsemi, NXP, Fairchild) specifies switching
# times, and NXP's model card sets TR ≈ 0, i.e. it has no storage time at all.
# Here TR = 100 ns: in the JEDEC switching test used for the 2N3904 (VCC = 3 V,
# IC = 10 mA, IB1 = −IB2 = 1 mA) this model then gives ts ≈ 460 ns, about twice
# the 2N3904's 200 ns maximum, as expected of a general-purpose (not gold-doped)
# transistor. `Adapter.tr_scale` varies it: with the emulator driving the base
# hard (IB ≈ 2.6 mA for IC ≈ 3.2 mA) storage time is the documented circuit's
# largest delay, and it still passes with twice this TR (tests/host/test_circuit.py).
BC547B_TR = 100e-9
BC547B = ("IS=2.4E-14 BF=290 NF=1.0 VAF=63 IKF=0.1357 ISE=3.545E-15 NE=1.541 "
          "BR=7.946 NR=1.004 VAR=25.9 IKR=0.1144 ISC=6.272E-14 NC=1.243 "
          "RB=10 RE=0.4683 RC=0.85 CJE=7P VJE=0.65 MJE=0.33 CJC=4P VJC=0.4 MJC=0.3 "
          "XCJC=0.62 TF=0.5N XTF=120 VTF=2.643 ITF=0.7495 FC=0.95 TR={tr}")
MODEL_VERSION = 1  # bump when the netlist or the model card changes (cache key)

VIL_FRACTION, VIH_FRACTION = 0.25, 0.75  # ESP8266 input thresholds (·VDD)
BAUD_TOLERANCE = 0.02  # the rig checks ±2 % baud
PATTERN = (0x55, 0x00, 0xFF, 0x55, 0xF0, 0x0F)  # single bits, a 9-bit low run, long highs
IDLE_BITS = 12  # idle line before the first and after the last byte


class SpiceError(Exception):
    """ngspice is missing, failed, or wrote something this module can't read."""


# --- SI values ----------------------------------------------------------------------
_SI = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "": 1.0,
       "k": 1e3, "K": 1e3, "meg": 1e6, "M": 1e6, "G": 1e9}


def parse_si(text: str | float) -> float:
    """'10k' → 1e4, '100p' → 1e-10, '4k7' → 4700, '47' → 47. Units (Ω, F, ohm)
    may follow. M is mega (as on a resistor), m milli, 'meg' mega as in SPICE."""
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip().replace("Ω", "").replace(" ", "")
    s = re.sub(r"(?i)(ohms?|f)$", "", s) if not re.fullmatch(r"[\d.]+f", s) else s
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(meg|[fpnuµmkKMG]?)(\d*)", s)
    if not m:
        raise ValueError(f"not a component value: {text!r} (examples: 10k, 4k7, 100p, 2n, 1M)")
    number, prefix, tail = m.groups()
    if tail:  # 4k7 style
        if "." in number or not prefix:
            raise ValueError(f"not a component value: {text!r}")
        number = f"{number}.{tail}"
    return float(number) * _SI[prefix]


def si(value: float, unit: str = "") -> str:
    """1e4 → '10 kΩ'-style text (3 significant digits)."""
    if value == 0:
        return f"0 {unit}".strip()
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("µ", 1e-6),
                          ("n", 1e-9), ("p", 1e-12), ("f", 1e-15)):
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.3g} {prefix}{unit}".strip()
    return f"{value:.3g} {unit}".strip()


# --- the circuit ----------------------------------------------------------------------
@dataclass(frozen=True)
class Adapter:
    """Component values (SI units) and conditions of one adapter build."""
    r1: float = 10e3  # Data → +5 V pull-up
    r2: float = 1e3  # 3V3 → collector (RX pull-up)
    r3: float = 1e3  # Data → base
    c_cable: float = 100e-12  # at the data line: cable + wiring
    c_rx: float = 10e-12  # at the RX node: wiring + ESP8266 pin
    cable_at: str = "data"  # where the cable is: "data" (adapter at the board, P1 cable to
    #                         the meter) or "rx" (adapter at the meter, cable to the board's RX)
    driver: str = "emulator"  # "emulator" (rig) or "meter" (open collector)
    r_out: float = 40.0  # emulator GPIO output resistance
    r_on: float = 20.0  # meter open collector on-resistance
    v5: float = 5.0  # +5 V rail (USB 5 V on the rig; meter 5 V minus the 1N5819 drop in the field)
    vdd: float = 3.3
    baud: int = 115200
    tr_scale: float = 1.0  # × BC547B_TR

    def __post_init__(self):
        if self.driver not in ("emulator", "meter"):
            raise ValueError(f"driver must be 'emulator' or 'meter', not {self.driver!r}")
        if self.cable_at not in ("data", "rx"):
            raise ValueError(f"cable_at must be 'data' or 'rx', not {self.cable_at!r}")
        for name in ("r1", "r2", "r3", "r_out", "r_on"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("c_cable", "c_rx"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0")

    @property
    def bit_s(self) -> float:
        return 1.0 / self.baud

    def describe(self) -> str:
        return (f"R1 {si(self.r1, 'Ω')}, R2 {si(self.r2, 'Ω')}, R3 {si(self.r3, 'Ω')}, "
                f"C_cable {si(self.c_cable, 'F')} at {'the data line' if self.cable_at == 'data' else 'RX'}, "
                f"C_rx {si(self.c_rx, 'F')}, {self.driver} driver")

    def key(self) -> str:
        blob = json.dumps({"model": MODEL_VERSION, "pattern": PATTERN, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    # --- netlist ---
    def tx_edges(self) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
        """UART levels of PATTERN at the transmitter (1 = mark) as
        [(time, level)] changes, and [(start time, byte)] per frame."""
        t, level, changes, frames = IDLE_BITS * self.bit_s, 1, [], []
        for byte in PATTERN:
            frames.append((t, byte))
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                if bit != level:
                    changes.append((t, bit))
                    level = bit
                t += self.bit_s
        return changes, frames

    @property
    def stop_s(self) -> float:
        return (2 * IDLE_BITS + 10 * len(PATTERN)) * self.bit_s

    def netlist(self, out: str = "out.txt") -> str:
        changes, _ = self.tx_edges()
        edge = 5e-9
        # Data line low while the UART sends mark (inverted, like a meter).
        v_hi = self.vdd if self.driver == "emulator" else 1.0  # meter: switch control
        points = ["0 0"]
        for t, level in changes:
            a, b = (0.0, v_hi) if level == 0 else (v_hi, 0.0)
            points += [f"{t:.9e} {a}", f"{t + edge:.9e} {b}"]
        pwl = " ".join(points)
        lines = [
            f"* P1 adapter, {self.describe()}",
            f".model BC547B NPN({BC547B.format(tr=f'{BC547B_TR * self.tr_scale:.4g}')})",
            f"V5 v5 0 {self.v5}",
            f"V33 v33 0 {self.vdd}",
            f"Vtx tx 0 PWL({pwl})",
        ]
        if self.driver == "emulator":
            lines.append(f"Rout tx data {self.r_out}")
        else:
            # Meter: open collector on while TX is at mark (tx low) → switch closed when ctl high.
            lines += ["Binv ctl 0 V=1-V(tx)",
                      f"S1 data 0 ctl 0 OC",
                      f".model OC SW(VT=0.5 VH=0.1 RON={self.r_on} ROFF=1e9)"]
        lines += [
            f"Ccable {'data' if self.cable_at == 'data' else 'rx'} 0 {self.c_cable:.6e}",
            f"R1 data v5 {self.r1}",
            f"R3 data base {self.r3}",
            "Q1 rx base 0 BC547B",
            f"R2 v33 rx {self.r2}",
            f"Crx rx 0 {self.c_rx:.6e}",
            ".options reltol=1e-4",
            f".tran 5n {self.stop_s:.6e} 0 10n",
            ".control",
            "set wr_singlescale",
            "run",
            f"wrdata {out} v(tx) v(data) v(base) v(rx)",
            "quit",
            ".endc",
            ".end",
        ]
        return "\n".join(lines) + "\n"


@dataclass
class Waveform:
    t: np.ndarray
    tx: np.ndarray
    data: np.ndarray
    base: np.ndarray
    rx: np.ndarray


def ngspice() -> str:
    path = shutil.which("ngspice")
    if not path:
        raise SpiceError("ngspice is not installed: sudo apt-get install ngspice (scripts/bootstrap does it)")
    return path


def simulate(adapter: Adapter, timeout: float = 60) -> Waveform:
    exe = ngspice()
    with tempfile.TemporaryDirectory(prefix="hil-spice-") as tmp:
        cir = Path(tmp) / "adapter.cir"
        cir.write_text(adapter.netlist())
        proc = subprocess.run([exe, "-b", cir.name], cwd=tmp, capture_output=True, text=True, timeout=timeout)
        out = Path(tmp) / "out.txt"
        if proc.returncode != 0 or not out.exists():
            raise SpiceError(f"ngspice failed (exit {proc.returncode}) on {adapter.describe()}:\n"
                             f"{(proc.stdout + proc.stderr)[-2000:]}")
        try:
            d = np.loadtxt(out)
        except ValueError as e:
            raise SpiceError(f"unreadable ngspice output: {e}") from e
    if d.ndim != 2 or d.shape[1] != 5:
        raise SpiceError(f"ngspice wrote {d.shape} values, expected rows of t + 4 voltages")
    return Waveform(*d.T)


# --- measurements -----------------------------------------------------------------------
@dataclass
class Edge:
    tx_time: float
    rx_rising: bool
    delay: float  # TX edge → RX crosses VIH (rising) / VIL (falling); inf if never
    transition: float  # 10–90 % time; inf if never
    storage: float  # TX edge → RX starts to rise (rising edges only), else 0


@dataclass
class BitWindow:
    byte_index: int
    byte: int
    bit: int  # 0 start, 1..8 data, 9 stop
    high: bool
    open_from: float  # valid interval within the bit slot, seconds from slot start
    open_to: float  # (open_to <= open_from: never valid)
    margin: float  # from the ±2 % sample instants to the interval's ends (negative: misread)


@dataclass
class Timing:
    adapter: Adapter
    edges: list[Edge]
    bits: list[BitWindow]
    lost_bytes: list[int] = field(default_factory=list)  # no start edge seen at RX
    rx_low: float = 0.0  # settled levels at RX
    rx_high: float = 0.0

    # --- summary figures ---
    def _pick(self, rising: bool, attr: str) -> list[float]:
        return [getattr(e, attr) for e in self.edges if e.rx_rising is rising]

    @property
    def rise_delay(self) -> float:
        """Worst TX edge → RX rising past VIH (after the longest saturation)."""
        return max(self._pick(True, "delay"))

    @property
    def fall_delay(self) -> float:
        return max(self._pick(False, "delay"))

    @property
    def rise_time(self) -> float:
        return max(self._pick(True, "transition"))

    @property
    def fall_time(self) -> float:
        return max(self._pick(False, "transition"))

    @property
    def storage_time(self) -> float:
        return max(self._pick(True, "storage"))

    @property
    def margin(self) -> float:
        """Smallest sampling margin over all bits, seconds (negative: bit errors)."""
        if self.lost_bytes or not self.bits:
            return -self.adapter.bit_s
        return min(b.margin for b in self.bits)

    @property
    def opening(self) -> float:
        """Shortest valid part of any bit, seconds."""
        if self.lost_bytes or not self.bits:
            return 0.0
        return min(max(0.0, b.open_to - b.open_from) for b in self.bits)

    @property
    def ok(self) -> bool:
        return self.margin > 0

    def reason(self) -> str:
        """Why it fails (or how much margin it has), in words."""
        a, bit = self.adapter, self.adapter.bit_s
        if self.ok:
            return (f"passes: every bit is read right for baud errors up to ±{BAUD_TOLERANCE:.0%}, "
                    f"sampling margin {self.margin * 1e6:.2f} µs ({self.margin / bit:.0%} of a bit), "
                    f"shortest bit opening {self.opening * 1e6:.2f} µs ({self.opening / bit:.0%})")
        why = []
        vil, vih = VIL_FRACTION * a.vdd, VIH_FRACTION * a.vdd
        if self.rx_high < vih:
            why.append(f"RX never reaches VIH ({vih:.2f} V): it settles at {self.rx_high:.2f} V")
        if self.rx_low > vil:
            why.append(f"RX never falls below VIL ({vil:.2f} V): it settles at {self.rx_low:.2f} V")
        if self.lost_bytes:
            why.append(f"{len(self.lost_bytes)} of {len(PATTERN)} start bits never reach RX")
        worst = min(self.bits, key=lambda b: b.margin) if self.bits else None
        if worst is not None:
            kind = "start" if worst.bit == 0 else ("stop" if worst.bit == 9 else f"data bit {worst.bit - 1}")
            level = "high" if worst.high else "low"
            if worst.open_to > worst.open_from:
                where = (f"is valid only from {worst.open_from * 1e6:.2f} to {worst.open_to * 1e6:.2f} µs "
                         f"of its {bit * 1e6:.2f} µs slot")
            else:
                where = "is never valid"
            why.append(f"the {kind} ({level}) of byte 0x{worst.byte:02X} {where}; the receiver samples it "
                       f"at {(0.5 - BAUD_TOLERANCE * (worst.bit + 0.5)) * bit * 1e6:.2f}–"
                       f"{(0.5 + BAUD_TOLERANCE * (worst.bit + 0.5)) * bit * 1e6:.2f} µs")
        # Causes, largest delay first.
        causes = []
        rd, fd = self.rise_delay, self.fall_delay
        if math.isinf(rd):
            c_node = a.c_rx + 4e-12 + (a.c_cable if a.cable_at == "rx" else 0.0)
            causes.append((rd, f"RX never rises past VIH within a byte: charging "
                               f"{si(c_node, 'F')} at RX through R2 takes τ = R2·C ≈ {_us(a.r2 * c_node)}"))
        elif rd > 0.2 * bit:
            c_node = a.c_rx + 4e-12 + (a.c_cable if a.cable_at == "rx" else 0.0)  # + C_cb of the BC547
            cs = "C_rx + C_cable + C_cb" if a.cable_at == "rx" else "C_rx + C_cb"
            causes.append((rd, f"RX rises late: {_us(rd)} from the TX edge to VIH, of which "
                               f"{_us(self.storage_time)} storage time (the saturated BC547 turning off) and "
                               f"{_us(rd - self.storage_time)} charging {cs} through R2 "
                               f"(τ = R2·C ≈ {_us(a.r2 * c_node)})"))
        if math.isinf(fd):
            causes.append((fd, "RX never falls below VIL: the BC547 does not turn on"))
        elif fd > 0.2 * bit:
            if a.driver == "meter":
                src = f"the open-collector data line rises only through R1 (τ = R1·C_cable = {_us(a.r1 * a.c_cable)})"
            else:
                src = f"the data line charges through the driver (τ = {_us(a.r_out * a.c_cable)}) and R3 into the base"
            causes.append((fd, f"RX falls late: {_us(fd)} from the TX edge to VIL; {src}"))
        skew = fd - rd
        if not math.isinf(skew) and not math.isnan(skew) and abs(skew) > 0.2 * bit:
            causes.append((abs(skew), f"the unequal delays distort pulse widths by {_us(abs(skew))} "
                                      f"({abs(skew) / bit:.0%} of a bit): RX {'low' if skew < 0 else 'high'} "
                                      f"pulses lengthen, {'high' if skew < 0 else 'low'} pulses shorten"))
        why += [text for _, text in sorted(causes, key=lambda c: -c[0])]
        return "fails: " + "; ".join(why)

    def summary(self) -> dict:
        return {"values": asdict(self.adapter), "ok": self.ok,
                "rise_time_s": self.rise_time, "fall_time_s": self.fall_time,
                "rise_delay_s": self.rise_delay, "fall_delay_s": self.fall_delay,
                "storage_time_s": self.storage_time, "opening_s": self.opening,
                "margin_s": self.margin, "rx_low_v": self.rx_low, "rx_high_v": self.rx_high,
                "reason": self.reason()}


def _us(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds * 1e6:.2f} µs"


def _cross(t: np.ndarray, v: np.ndarray, start: float, level: float, rising: bool, end: float) -> float:
    """First time in [start, end) that v crosses `level` in the given direction
    (linear interpolation); inf if it doesn't."""
    i0, i1 = np.searchsorted(t, [start, end])
    seg = v[i0:i1]
    hit = np.nonzero(seg >= level if rising else seg <= level)[0]
    if not len(hit):
        return math.inf
    i = i0 + hit[0]
    if i == 0 or i == i0:
        return max(t[i], start)
    t0, t1, v0, v1 = t[i - 1], t[i], v[i - 1], v[i]
    return t0 + (level - v0) * (t1 - t0) / (v1 - v0) if v1 != v0 else t1


def measure(adapter: Adapter, wave: Waveform) -> Timing:
    a, bit = adapter, adapter.bit_s
    t, rx = wave.t, wave.rx
    vil, vih = VIL_FRACTION * a.vdd, VIH_FRACTION * a.vdd
    changes, frames = a.tx_edges()
    end_all = t[-1]
    rx_high = float(rx[np.searchsorted(t, IDLE_BITS * bit) - 1])  # settled idle level
    # Settled low: the end of the 9-bit low run of 0x00 (start + 8 zero bits).
    t00 = next(ts for ts, byte in frames if byte == 0x00)
    rx_low = float(rx[np.searchsorted(t, t00 + 8.9 * bit)])
    edges = []
    for k, (te, level) in enumerate(changes):
        rx_rising = level == 1  # TX back to mark → adapter off → RX rises
        horizon = end_all  # a late edge may cross after the next TX edge: still its delay
        if rx_rising:
            d = _cross(t, rx, te, vih, True, horizon) - te
            t10 = _cross(t, rx, te, 0.1 * a.vdd, True, horizon)
            t90 = _cross(t, rx, te, 0.9 * a.vdd, True, horizon)
            start_v = rx_low + 0.1 * (a.vdd - rx_low)
            storage = _cross(t, rx, te, start_v, True, horizon) - te
        else:
            d = _cross(t, rx, te, vil, False, horizon) - te
            t90 = _cross(t, rx, te, 0.9 * a.vdd, False, horizon)
            t10 = _cross(t, rx, te, 0.1 * a.vdd, False, horizon)
            storage = 0.0
        transition = (t90 - t10) if rx_rising else (t10 - t90)
        edges.append(Edge(te, rx_rising, d, abs(transition) if not math.isinf(transition) else math.inf,
                          storage))
    bits, lost = [], []
    for idx, (ts, byte) in enumerate(frames):
        # The receiver syncs on RX falling through VIL at the start bit.
        t0 = _cross(t, rx, ts - 0.5 * bit, vil, False, ts + 0.5 * bit)
        if math.isinf(t0):
            lost.append(idx)
            continue
        levels = [0] + [(byte >> k) & 1 for k in range(8)] + [1]
        for k, high in enumerate(levels):
            lo, hi = t0 + k * bit, t0 + (k + 1) * bit
            # The valid run around the nominal sample instant, looked for up to a
            # bit beyond the slot (a neighbour of the same level continues it).
            i0, i1 = np.searchsorted(t, [lo - bit, hi + bit])
            seg_t, seg_v = t[i0:i1], rx[i0:i1]
            valid = seg_v > vih if high else seg_v < vil
            mid = min(int(np.searchsorted(seg_t, lo + 0.5 * bit)), len(valid) - 1)
            if len(valid) == 0 or not valid[mid]:
                bits.append(BitWindow(idx, byte, k, bool(high), 0.0, 0.0, -bit / 2))
                continue
            bad_before = np.nonzero(~valid[:mid])[0]
            bad_after = np.nonzero(~valid[mid:])[0]
            run_from = seg_t[bad_before[-1]] if len(bad_before) else lo - bit
            run_to = seg_t[mid + bad_after[0]] if len(bad_after) else hi + bit
            # Sample instants from t0 for baud errors up to ±2 %.
            s_lo = t0 + (k + 0.5) * bit * (1 - BAUD_TOLERANCE)
            s_hi = t0 + (k + 0.5) * bit * (1 + BAUD_TOLERANCE)
            margin = min(s_lo - run_from, run_to - s_hi)
            bits.append(BitWindow(idx, byte, k, bool(high), max(run_from, lo) - lo, min(run_to, hi) - lo, margin))
    return Timing(adapter, edges, bits, lost, rx_low, rx_high)


def check(adapter: Adapter) -> Timing:
    return measure(adapter, simulate(adapter))


# --- edge delays for the virtual rig, cached ------------------------------------------------
def cache_dir() -> Path:
    base = os.environ.get("HIL_CIRCUIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "p1-hil-rig" / "circuit"
    return Path(base)


def cached_summary(adapter: Adapter) -> dict:
    """check(adapter).summary(), from the disk cache when this exact circuit
    (values, conditions, model version) was simulated before."""
    path = cache_dir() / f"{adapter.key()}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    summary = check(adapter).summary()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1, default=float))
    tmp.replace(path)
    return summary


def edge_delays(adapter: Adapter | None = None, **values) -> tuple[float, float]:
    """(rise_delay_s, fall_delay_s) at the RX pin for the virtual line
    (hil.sim.line.P1Line): from a TX edge to RX crossing VIH (rising) / VIL
    (falling), the worst of each direction over the SPICE bit pattern. A delay
    that never completes (RX never crosses) comes back as 0.1 s: the line then
    loses those pulses, as the bench does."""
    adapter = adapter or replace(Adapter(), **values)
    s = cached_summary(adapter)
    cap = 0.1
    return (float(min(s["rise_delay_s"], cap)), float(min(s["fall_delay_s"], cap)))
