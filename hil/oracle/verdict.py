"""Compare what arrived on MQTT with what the oracle expects, and say why not.

Failure text names what was expected, what arrived, and where to look (the
boards' logs, the broker's log), so a red test explains itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .expected import matches
from ..net.message import Message


@dataclass
class Comparison:
    expected: list[dict[str, Decimal | str | dict]]  # per telegram of the capture
    times: int
    problems: list[str] = field(default_factory=list)
    matched: int = 0  # values that arrived with the right number, counted per telegram

    def __bool__(self) -> bool:
        return not self.problems


def compare(expected: dict[str, Decimal | str | dict] | list[dict[str, Decimal | str | dict]],
            by_name: dict[str, list[Message]], times: int = 1, superseded_ok: bool = False) -> Comparison:
    """`expected` is one telegram's values (hil.oracle.expected.expected_payloads) or
    a sequence's, telegram by telegram (expected_sequence), played `times`
    times. The k-th message of a name must then equal what telegram k (mod the
    sequence's length) says (numerically for numbers, see
    hil.oracle.expected.matches), and every name must arrive once per telegram played.
    superseded_ok (one telegram's values only): a name may arrive fewer times,
    at least once, as from a bridge that skipped some for newer ones."""
    if superseded_ok and not isinstance(expected, dict):
        raise ValueError("superseded_ok needs one telegram's values: a skipped message shifts a sequence's")
    telegrams = [expected] if isinstance(expected, dict) else list(expected)
    result = Comparison(telegrams, times)
    names = sorted({name for values in telegrams for name in values})
    for name in names:
        wants = [(k, values[name]) for k, values in enumerate(telegrams * times) if name in values]
        got = by_name.get(name, [])
        if len(got) != len(wants) and not (superseded_ok and 0 < len(got) <= len(wants)):
            shown = wants[0][1] if len(telegrams) == 1 else f"{len(telegrams)} telegrams' values"
            result.problems.append(f"{name}: expected {len(wants)} message(s) of {shown}, got {len(got)}: "
                                   f"{[m.text for m in got][:12]}")
        for (k, want), m in zip(wants, got):
            if matches(m.payload, want):
                result.matched += 1
            elif len(telegrams) == 1:
                result.problems.append(f"{name}: expected {want}, got payload {m.text!r} on {m.topic}")
            else:
                result.problems.append(f"{name}: telegram {k % len(telegrams) + 1} of {len(telegrams)} "
                                       f"(round {k // len(telegrams) + 1}): expected {want}, "
                                       f"got payload {m.text!r} on {m.topic}")
    return result


def explain(problems: list[str], *sources: tuple[str, str]) -> str:
    """A failure message: the problems, then (title, text) excerpts to look at."""
    lines = [f"{len(problems)} problem(s):"] + [f"  - {p}" for p in problems[:40]]
    if len(problems) > 40:
        lines.append(f"  ... and {len(problems) - 40} more")
    for title, text in sources:
        lines += ["", f"--- {title} ---", text]
    return "\n".join(lines)
