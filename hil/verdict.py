"""Compare what arrived on MQTT with what the oracle expects, and say why not.

Failure text names what was expected, what arrived, and where to look (the
boards' logs, the broker's log), so a red test explains itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .expected import matches
from .mqtt import Message


@dataclass
class Comparison:
    expected: dict[str, Decimal]
    times: int
    problems: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        """Values that arrived with the right number, counted per telegram."""
        return self._matched

    def __bool__(self) -> bool:
        return not self.problems


def compare(expected: dict[str, Decimal | str | dict], by_name: dict[str, list[Message]],
            times: int = 1) -> Comparison:
    """Every expected name must arrive exactly `times` times, each equal to
    what is expected (numerically for numbers, see hil.expected.matches)."""
    result = Comparison(expected, times)
    matched = 0
    for name, want in sorted(expected.items()):
        got = by_name.get(name, [])
        if len(got) != times:
            result.problems.append(f"{name}: expected {times} message(s) of {want}, got {len(got)}: "
                                   f"{[m.text for m in got]}")
        for m in got:
            if matches(m.payload, want):
                matched += 1
            else:
                result.problems.append(f"{name}: expected {want}, got payload {m.text!r} on {m.topic}")
    result._matched = matched
    return result


def explain(problems: list[str], *sources: tuple[str, str]) -> str:
    """A failure message: the problems, then (title, text) excerpts to look at."""
    lines = [f"{len(problems)} problem(s):"] + [f"  - {p}" for p in problems[:40]]
    if len(problems) > 40:
        lines.append(f"  ... and {len(problems) - 40} more")
    for title, text in sources:
        lines += ["", f"--- {title} ---", text]
    return "\n".join(lines)
