"""Sequences of distinct telegrams from a template capture.

Each telegram of a sequence carries its own index in its energy register, so a
value seen on MQTT tells which telegram it came from: what overflow and
latency tests need to say "the latest telegram arrived". Values and CRCs are
rewritten with hil.p1, never by hand.
"""
from __future__ import annotations

from decimal import Decimal

from . import p1

MARKER_OBIS = "1-0:1.8.0"  # positive_energy_total
MARKER_TOPIC = "positive_energy_total"
_STEP = Decimal("0.001")


def _marker_base(template: bytes) -> Decimal:
    value = p1.cosem_values(template)[MARKER_OBIS][0]
    return Decimal(value.split(b"*")[0].decode())


def sequence(template: bytes, count: int) -> list[bytes]:
    """`count` telegrams like `template`, the i-th with positive_energy_total
    raised by i Wh (monotonic, as a real register)."""
    base = _marker_base(template)
    raw = p1.cosem_values(template)[MARKER_OBIS][0].split(b"*")[0]
    width, decimals = len(raw), len(raw.split(b".")[1]) if b"." in raw else 0
    out = []
    for i in range(count):
        value = base + _STEP * i
        out.append(p1.replace_value(template, MARKER_OBIS, f"{value:0{width}.{decimals}f}"))
    return out


def index_of(template: bytes, payload: str) -> int:
    """Which telegram of sequence(template, ...) a positive_energy_total payload is from."""
    return int((Decimal(payload) - _marker_base(template)) / _STEP)
