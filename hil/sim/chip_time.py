"""Where a virtual board's chip time went, by part of a P1 bridge.

The board's clock writes its computing per (source file, function)
(cmod/vboard/vboard_clock.c, read by hil.sim.handle.VirtualRig.clock_profile);
this sorts it into the parts a P1 bridge has: reading and parsing, publishing,
status, the event loop. It knows this project's bridge by its functions and
the libraries (asyncio, mqtt_as) by their modules; any other bridge's own
code counts as "the rest". Labels for figures only: no verdict reads them.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

# This project's bridge, function by function: which part of the work each is.
PARTS_BY_FUNCTION = {
    ("bridge.py", "publisher"): "publishing",
    ("bridge.py", "health"): "status",
    ("bridge.py", "status_json"): "status",
    ("bridge.py", "status_message"): "status",
    ("bridge.py", "_int"): "status",
    ("bridge.py", "_lit"): "status",
    ("bridge.py", "uptime_s"): "status",
    ("bridge.py", "sample_heap"): "reading and parsing",  # called at every commit
    ("bridge.py", "reader"): "reading and parsing",
}
PARTS_BY_MODULE = {
    "p1reader.py": "reading and parsing", "p1reader_portable.py": "reading and parsing",
    "snapshot.py": "reading and parsing", "snapshot_portable.py": "reading and parsing",
    "obismap.py": "reading and parsing",
    "mqtt_min.py": "publishing", "mqtt_as.py": "publishing", "mqtt_as_adapter.py": "publishing",
    "mqtt_backend.py": "publishing",
    "asyncio/core.py": "event loop", "asyncio/event.py": "event loop", "asyncio/funcs.py": "event loop",
    "asyncio/stream.py": "event loop", "asyncio/lock.py": "event loop", "asyncio/__init__.py": "event loop",
    "bridge_main.py": "event loop",
}
PARTS = ("reading and parsing", "publishing", "status", "event loop", "the rest")

Profile = dict[tuple[str, str], tuple[int, int]]  # (file, function) -> (chip us, host CPU us)


def part_of(file: str, function: str) -> str:
    name = _short(file)
    return PARTS_BY_FUNCTION.get((name, function)) or PARTS_BY_MODULE.get(name) or "the rest"


def spent(before: Profile, after: Profile) -> Profile:
    """What was computed between two profiles of the same board."""
    return {k: (chip - before.get(k, (0, 0))[0], host - before.get(k, (0, 0))[1])
            for k, (chip, host) in after.items()}


def by_part(used: Profile) -> dict[str, int]:
    """Chip microseconds per part, every part of PARTS present."""
    parts: dict[str, int] = defaultdict(int)
    for (file, function), (chip_us, _host_us) in used.items():
        parts[part_of(file, function)] += chip_us
    return {part: parts[part] for part in PARTS}


@dataclass(frozen=True)
class Stretch:
    """A long stretch of computing between two calls to the outside world (a
    poll, a read, a sleep): time in which the board read no UART."""
    done_at: float  # when the chip finished it, Unix time
    chip_ms: float
    host_cpu_us: int  # the host CPU time it took
    functions: tuple[tuple[str, str, float], ...]  # (file, function, chip ms), most first

    def describe(self) -> str:
        names = ", ".join(f"{_short(file)}:{function} {ms:.0f}" for file, function, ms in self.functions)
        return f"{self.chip_ms:.0f} ms ({names})"


def parse_stretches(text: str, since: float = 0.0) -> list[Stretch]:
    """The stretches a board's clock appended (cmod/vboard/vboard_clock.c) that
    ended after `since` (Unix time), oldest first."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or float(fields[0]) < since:
            continue
        functions = []
        for field in fields[3:]:
            file, function, us = field.rsplit(":", 2)
            functions.append((file, function, int(us) / 1000))
        found.append(Stretch(float(fields[0]), int(fields[1]) / 1000, int(fields[2]), tuple(functions)))
    return found


def longest(stretches: list[Stretch], n: int = 5) -> list[Stretch]:
    """The n longest of `stretches`, longest first."""
    return sorted(stretches, key=lambda x: -x.chip_ms)[:n]


def _short(file: str) -> str:
    return file.rsplit("/rom/", 1)[-1].rsplit("/lib/", 1)[-1].lstrip("/")
