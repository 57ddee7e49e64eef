"""Sequences of distinct telegrams from a template capture.

Two kinds. :func:`sequence`: each telegram carries its own index in its
energy register, so a value seen on MQTT tells which telegram it came from: what overflow and
latency tests need to say "the latest telegram arrived". More fields than the
marker differ from telegram to telegram (VARIED: the active tariff's register,
the L1 voltage, the clock), so a bridge that publishes one telegram's marker
with another's values shows on those topics too. Values and CRCs are
rewritten with hil.p1.framing, never by hand.

:func:`synthesize`: what a meter could really have sent, for `hil captures
synthesize` (clock, power, integrated energy registers; see its docstring).
"""
from __future__ import annotations

import datetime
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from . import framing as p1

MARKER_OBIS = "1-0:1.8.0"  # positive_energy_total
MARKER_TOPIC = "positive_energy_total"
_STEP = Decimal("0.001")

__all__ = ["sequence", "varied", "index_of", "MARKER_TOPIC", "SynthError", "synthesize"]


def _marker_base(template: bytes) -> Decimal:
    value = p1.cosem_values(template)[MARKER_OBIS][0]
    return Decimal(value.split(b"*")[0].decode())


VOLTAGE_OBIS = "1-0:32.7.0"  # instantaneous_voltage_in_phase_L1
CLOCK_OBIS = "0-0:1.0.0"  # timestamp
TARIFF_OBIS = "0-0:96.14.0"
VOLTAGE_STEP = Decimal("0.1")  # V per telegram; 50 telegrams span 5 V, inside a meter's range
CLOCK_STEP_S = 10  # a meter's telegram interval


def varied(template: bytes) -> tuple[str, ...]:
    """The OBIS codes sequence(template, ...) writes a different value into for
    every telegram: the marker, the active tariff's energy register, the L1
    voltage and the clock, those of them the template has."""
    values = p1.cosem_values(template)
    out = [MARKER_OBIS]
    if TARIFF_OBIS in values:
        out.append("1-0:1.8.%d" % int(values[TARIFF_OBIS][0]))
    out += [VOLTAGE_OBIS, CLOCK_OBIS]
    return tuple(o for o in out if o in values)


def _number(template: bytes, obis: str) -> tuple[Decimal, int, int]:
    raw = p1.cosem_values(template)[obis][0].split(b"*")[0]
    return Decimal(raw.decode()), len(raw), len(raw.split(b".")[1]) if b"." in raw else 0


def sequence(template: bytes, count: int) -> list[bytes]:
    """`count` telegrams like `template`, each as long as the template (a
    telegram's offset in the file names it). The i-th has positive_energy_total
    and the active tariff's register raised by i Wh (monotonic, as real
    registers, and 1.8.0 stays the sum of its tariffs), the L1 voltage raised by
    i * 0.1 V (lowered where the template's width would overflow), and the
    clock i * 10 s later."""
    fields = varied(template)
    out = []
    for i in range(count):
        telegram = template
        for obis in fields:
            if obis == CLOCK_OBIS:
                text = p1.cosem_values(template)[obis][0]
                stamp = datetime.datetime.strptime(text[:12].decode(), "%y%m%d%H%M%S")
                new = (stamp + datetime.timedelta(seconds=CLOCK_STEP_S * i)).strftime("%y%m%d%H%M%S") + text[12:].decode()
            else:
                base, width, decimals = _number(template, obis)
                step = VOLTAGE_STEP if obis == VOLTAGE_OBIS else _STEP
                value = base + step * i
                if len(f"{value:0{width}.{decimals}f}") > width:
                    value = base - step * i
                new = f"{value:0{width}.{decimals}f}"
            telegram = p1.replace_value(telegram, obis, new)
        out.append(telegram)
    return out


def index_of(template: bytes, payload: str) -> int | None:
    """Which telegram of sequence(template, ...) a positive_energy_total payload
    is from; None for a payload that is no number (a bridge that lost bytes of
    the line can publish one), which names no telegram."""
    try:
        return int((Decimal(payload) - _marker_base(template)) / _STEP)
    except (ArithmeticError, ValueError):  # decimal's InvalidOperation; NaN, Infinity
        return None


# --- realistic sequences ------------------------------------------------------
#
# synthesize() turns one template telegram into a sequence a meter could have
# sent: the clock advances, instantaneous values wander plausibly, and every
# energy register integrates the power it belongs to, to the last digit.


class SynthError(ValueError):
    """The template cannot drive a realistic sequence (missing or odd lines)."""


_LINE_RE = re.compile(rb"^(\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3})\(([^()\r\n]*)\)", re.MULTILINE)
_NUM_RE = re.compile(rb"\A(\d+)(?:\.(\d+))?(?:\*([^()\r\n]*))?\Z")
_CLOCK = "0-0:1.0.0"
_TARIFF = "0-0:96.14.0"


@dataclass
class _Field:
    """One numeric value of the template: where it is and how it is written."""
    obis: str
    start: int  # byte span of the number (unit excluded) in the template
    end: int
    width: int  # total characters of the number text
    decimals: int

    @property
    def unit(self) -> Fraction:
        return Fraction(1, 10 ** self.decimals)

    @property
    def max_units(self) -> int:
        int_digits = self.width - (self.decimals + 1 if self.decimals else 0)
        return 10 ** (int_digits + self.decimals) - 1

    def render(self, units: int) -> bytes:
        if not 0 <= units <= self.max_units:
            raise SynthError("%s: value %s does not fit the template's format (%d characters, %d decimals)"
                             % (self.obis, Fraction(units) * self.unit, self.width, self.decimals))
        if not self.decimals:
            return b"%0*d" % (self.width, units)
        whole, frac = divmod(units, 10 ** self.decimals)
        return b"%0*d.%0*d" % (self.width - self.decimals - 1, whole, self.decimals, frac)


def _fields(template: bytes) -> dict[str, _Field]:
    """First numeric value of every COSEM line, by OBIS code (first line wins)."""
    out = {}
    for m in _LINE_RE.finditer(template):
        obis = m.group(1).decode("ascii")
        num = _NUM_RE.match(m.group(2))
        if obis in out or num is None:
            continue
        text_len = len(num.group(1)) + (len(num.group(2)) + 1 if num.group(2) is not None else 0)
        out[obis] = _Field(obis, m.start(2), m.start(2) + text_len, text_len,
                           len(num.group(2)) if num.group(2) is not None else 0)
    return out


class _Walk:
    """A bounded random walk in integer units of a field's last digit."""

    def __init__(self, rng: random.Random, start: int, lo: int, hi: int, step: float):
        self.rng, self.value, self.lo, self.hi, self.step = rng, start, lo, hi, step

    def next(self) -> int:
        if self.hi <= self.lo:
            return self.value
        v = self.value + round(self.rng.gauss(0, self.step))
        while not self.lo <= v <= self.hi:  # reflect at the bounds
            v = 2 * self.lo - v if v < self.lo else 2 * self.hi - v
        self.value = v
        return v


def _units(template: bytes, f: _Field) -> int:
    text = template[f.start:f.end].replace(b".", b"")
    return int(text)


def synthesize(template: bytes, count: int, interval_s: float = 10, seed: int = 0) -> list[bytes]:
    """``count`` telegrams a meter could have sent, starting with ``template`` itself.

    - 0-0:1.0.0 advances by ``interval_s`` per telegram; the DST letter is the
      template's throughout (no DST change is simulated, so the local time the
      letter qualifies stays unambiguous).
    - Net active power wanders around the template's (1.7.0 minus 2.7.0), so a
      sequence may cross from import to export; 1.7.0 shows the positive part,
      2.7.0 the negative part.
    - Energy registers integrate the power reported in the previous telegram over
      the interval, exactly (fractions carried): 1.8.0 and the active tariff's
      1.8.T (0-0:96.14.0) grow by the same whole units, likewise 2.8.0/2.8.T,
      and 15.8.0 by both; Qn.8.0 integrate Qn.7.0, 3.8.0 = +Q1+Q2, 4.8.0 = +Q3+Q4.
      Sums that hold in the template (1.8.0 = sum of tariffs, 15.8.0 = import +
      export) therefore hold in every telegram.
    - Voltages (+-2 %), currents (+-2 A), frequency (+-0.05 Hz) and reactive
      power (+-20 %, zero stays zero) wander within bounds around the template.
    - Every number keeps the template's width, decimals and unit; CRC recomputed.

    Deterministic for a given ``seed``.
    """
    frames = p1.split_telegrams(template)
    if not frames:
        raise SynthError("template holds no complete telegram")
    template = frames[0]
    if count < 0:
        raise SynthError("count must be >= 0")
    bang = template.rindex(b"\n!") + 2
    body = template[:bang]
    fields = _fields(body)
    rng = random.Random(seed)
    dt = Fraction(interval_s).limit_denominator(1000)
    if dt <= 0:
        raise SynthError("interval must be positive")

    clock = re.search(rb"^0-0:1\.0\.0\((\d{12})([SW])\)", body, re.MULTILINE)
    if clock is None:
        raise SynthError("template has no 0-0:1.0.0(YYMMDDhhmmssX) line")
    t0 = datetime.datetime.strptime(clock.group(1).decode(), "%y%m%d%H%M%S")

    tariff_line = re.search(rb"^0-0:96\.14\.0\((\d+)\)", body, re.MULTILINE)
    tariff = int(tariff_line.group(1)) if tariff_line else None

    def need(obis):
        if obis not in fields:
            raise SynthError("template has no numeric %s line" % obis)
        return fields[obis]

    # Instantaneous values: (field, walk), advanced once per telegram.
    walks: list[tuple[_Field, _Walk]] = []

    def walk(obis, spread_units, step_units, relative=None):
        f = fields.get(obis)
        if f is None:
            return
        v0 = _units(body, f)
        spread = max(spread_units, 0) if relative is None else round(v0 * relative)
        lo, hi = max(0, v0 - spread), min(f.max_units, v0 + spread)
        walks.append((f, _Walk(rng, v0, lo, hi, step_units if relative is None else max(spread / 8, 0))))

    for obis in ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0"):  # voltages: +-2 %
        f = fields.get(obis)
        if f:
            v0 = _units(body, f)
            walks.append((f, _Walk(rng, v0, max(0, round(v0 * 0.98)), round(v0 * 1.02), v0 * 0.002)))
    for obis in ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0"):  # currents: +-2 A
        f = fields.get(obis)
        if f:
            walk(obis, 2 * 10 ** f.decimals, 0.4 * 10 ** f.decimals)
    f = fields.get("1-0:14.7.0")
    if f:
        walk("1-0:14.7.0", round(Fraction(5, 100) / f.unit), max(1, round(Fraction(1, 100) / f.unit)))
    for q in ("5", "6", "7", "8"):
        walk("1-0:%s.7.0" % q, 0, 0, relative=0.2)

    # Net active power in W (import positive), shown as 1.7.0 / 2.7.0.
    p_in, p_out = need("1-0:1.7.0"), fields.get("1-0:2.7.0")
    kw = lambda f: Fraction(_units(body, f)) * f.unit  # noqa: E731 - value in the field's unit (kW)
    net0 = kw(p_in) - (kw(p_out) if p_out else 0)
    spread = max(abs(net0) / 2, Fraction(1, 2))
    lo, hi = net0 - spread, net0 + spread
    if p_out is None:
        lo = max(lo, Fraction(0))
    res = p_in.unit
    net_walk = _Walk(rng, round(net0 / res), round(lo / res), round(hi / res), float(spread / res) / 10)

    # Energy registers: (field, list of fields that move by the same increments).
    imp_total, exp_total = need("1-0:1.8.0"), fields.get("1-0:2.8.0")
    registers = {obis: _units(body, f) for obis, f in fields.items()
                 if re.fullmatch(r"1-0:\d+\.8\.\d+", obis)}
    carry: dict[str, Fraction] = {}

    def integrate(obis_list, energy):
        """Add ``energy`` (kWh or kvarh) to the registers sharing the first one's unit."""
        if energy <= 0 or not obis_list:
            return
        head = fields[obis_list[0]]
        total = carry.get(obis_list[0], Fraction(0)) + energy / head.unit
        whole = int(total)  # floor: energy >= 0
        carry[obis_list[0]] = total - whole
        for obis in obis_list:
            if fields[obis].decimals != head.decimals:
                raise SynthError("%s and %s have different decimals; cannot keep them in step"
                                 % (obis_list[0], obis))
            registers[obis] += whole

    if tariff is None:
        raise SynthError("template has no 0-0:96.14.0 tariff line")
    imp_group = ["1-0:1.8.0"] + [o for o in ("1-0:1.8.%d" % tariff, "1-0:15.8.0") if o in fields]
    exp_group = ([o for o in ("1-0:2.8.0", "1-0:2.8.%d" % tariff, "1-0:15.8.0") if o in fields]
                 if exp_total else [])
    q_groups = {q: [o for o in ("1-0:%d.8.0" % q, "1-0:%d.8.0" % (3 if q in (5, 6) else 4)) if o in fields]
                for q in (5, 6, 7, 8)}

    current = {f.obis: _units(body, f) for f, _ in walks}
    net = net_walk.value
    hours = dt / 3600
    out = [template]
    for i in range(1, count):
        # The interval just ended ran at the previous telegram's power.
        net_kw = Fraction(net) * res
        integrate(imp_group, max(net_kw, Fraction(0)) * hours)
        integrate(exp_group, max(-net_kw, Fraction(0)) * hours)
        for q, group in q_groups.items():
            qf = fields.get("1-0:%d.7.0" % q)
            if qf is not None and group:
                integrate(group, Fraction(current[qf.obis]) * qf.unit * hours)
        for f, w in walks:
            current[f.obis] = w.next()
        net = net_walk.next()

        values = dict(current)
        values.update(registers)
        values[p_in.obis] = max(net, 0)
        if p_out is not None:
            values[p_out.obis] = round(max(-net, 0) * res / p_out.unit)
        stamp = (t0 + datetime.timedelta(seconds=float(dt * i))).strftime("%y%m%d%H%M%S").encode()

        pieces, pos = [], 0
        edits = [(clock.start(1), clock.end(1), stamp)]
        edits += [(fields[o].start, fields[o].end, fields[o].render(v)) for o, v in values.items()]
        for start, end, text in sorted(edits):
            pieces.append(body[pos:start])
            pieces.append(text)
            pos = end
        pieces.append(body[pos:])
        out.append(p1.with_crc(b"".join(pieces)))
    return out[:count]
