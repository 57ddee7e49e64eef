"""What a correct bridge publishes for one telegram, topic by topic.

The compatibility contract's numbers come from the oracle (dsmr-parser). The
newer fields dsmr-parser does not parse (the SX631's breaker line 0-0:96.50.68,
the billing profile 0-0:98.1.0) or returns reshaped (the timestamp as a UTC
datetime) are read from the telegram's text with hil.p1.framing and shaped by the kind
rules of the firmware's table (bridge_firmware/obis.py): never by firmware code.
"""
from __future__ import annotations

import json
from decimal import Decimal

from ..p1 import framing as p1
from .contract import TOPICS, published_table
from .dsmr import expected_values

_BREAKER = {b"ON": "ON", b"OFF": "OFF", b"1": "ON", b"0": "OFF", b"2": "READY"}


def _number(raw: bytes) -> Decimal:
    return Decimal(raw.split(b"*", 1)[0].decode("ascii"))


EXPECT = ("all", "contract")
"""Which names a bridge is held to: every field this project's bridge publishes
(its table, bridge_firmware/obis.py), or only the compatibility contract's
(hil.oracle.contract.TOPICS), which any seed-compatible bridge publishes."""


def expected_payloads(telegram: bytes, expect: str = "all") -> dict[str, Decimal | str | dict]:
    """Topic name → Decimal (number), str (text, breaker) or dict (profile),
    for every name `expect` (see EXPECT) holds a bridge to."""
    if expect not in EXPECT:
        raise ValueError(f"expect must be one of {', '.join(EXPECT)}, not {expect!r}")
    out: dict[str, Decimal | str | dict] = dict(expected_values(telegram))
    if expect == "contract":
        return out
    values = p1.cosem_values(telegram)
    for obis, name, kind in published_table():
        if obis in TOPICS or obis not in values:
            continue
        groups = values[obis]
        if kind == "number":
            out[name] = _number(groups[0])
        elif kind == "text":
            out[name] = groups[0].decode("ascii")
        elif kind == "breaker":
            out[name] = _BREAKER[groups[0]]
        elif kind == "profile":
            out[name] = {"timestamp": groups[0].decode("ascii"), "values": [_number(g) for g in groups[1:]]}
    return out


def expected_sequence(data: bytes, expect: str = "all") -> list[dict[str, Decimal | str | dict]]:
    """expected_payloads() of each telegram of a capture, in the order the
    emulator plays them (a capture holds one telegram or a sequence)."""
    telegrams = p1.split_telegrams(data)
    if not telegrams:
        raise p1.FrameError("no complete telegram ('/' header line through '!CRC' line)")
    return [expected_payloads(t, expect) for t in telegrams]


def matches(payload: bytes, want: Decimal | str | dict) -> bool:
    text = payload.decode("utf-8", "replace")
    try:
        if isinstance(want, Decimal):
            return Decimal(text) == want
        if isinstance(want, dict):
            return json.loads(text, parse_float=Decimal, parse_int=Decimal) == want
    except (ArithmeticError, ValueError):
        return False
    return text == want
