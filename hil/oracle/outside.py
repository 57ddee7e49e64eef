"""What the rig sees of a bridge from outside, for any firmware.

A scenario is judged on what the rig observes itself, never on the bridge's
own reports (no status topic, no log line of its own needed):

- the emulator's record of each telegram it sent and when it was on the line;
- what reached the subscriber, telegram by telegram: complete, late,
  superseded (skipped for a newer one that arrived in time), lost, or stale
  (published after a newer telegram had ended): `deliveries`;
- the bridge's serial output: tracebacks, MemoryError, reboots: `serial_events`;
- on the virtual board, its heap as the board's HAL samples it and its
  restarts as the virtual board counts them: `HeapTrace`, `Restart`.

Every finding is a sentence with times in seconds from the scenario's start,
what a user needs to see first ("telegrams 31–290 lost: nothing published
for them").

Telegrams of a sequence carry their index in positive_energy_total
(hil.p1.synth): a value on MQTT names the telegram it came from. A sequence file
repeats, so a value is taken for the latest telegram with its index that had
begun when it arrived: a bridge that publishes the latest values is never
blamed for one it skipped, and a backlog shows as stale all the same.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..p1 import synth
from ..net.message import Message

LATE_S = 5.0
"""A telegram's values published this long after its last byte are late; a
telegram not published, with no newer one published within this time of its
end, is lost."""
IN_FLIGHT_S = 2.0
"""A telegram that ended this soon after the network went may have had its
values on their way: they may arrive when it is back."""
STALE_S = 1.0
"""A value published this long after a newer telegram had ended is stale: the
bridge publishes a backlog instead of the latest values (a latest-value bridge
at most finishes the few messages already in flight)."""


# --- telegram by telegram ---------------------------------------------------

@dataclass(frozen=True)
class Played:
    """One telegram as the emulator and the line saw it (host monotonic times)."""
    number: int  # 1-based position in the scenario's playback
    index: int  # which telegram of the sequence file
    start: float
    end: float


@dataclass(frozen=True)
class Delivery:
    telegram: Played
    published: float | None  # when its first value arrived; None: never
    stale_after: Played | None  # the newest telegram that had ended STALE_S before it arrived
    superseded: bool = False  # not published, but a newer telegram was, within LATE_S of its end

    @property
    def verdict(self) -> str:
        if self.published is None:
            # Skipping a telegram for a newer one is how a bridge keeps up with a
            # line faster than its network: the latest values still arrive in time.
            return "superseded" if self.superseded else "lost"
        if self.stale_after is not None:
            return "stale"
        if self.published - self.telegram.end > LATE_S:
            return "late"
        return "complete"


def newest_ended(played: Sequence[Played], at: float) -> Played | None:
    """The newest telegram that had ended STALE_S before `at`: a value of an
    older one published at `at` is stale (played in playback order)."""
    ended = [q for q in played if q.end <= at - STALE_S]
    return ended[-1] if ended else None


def deliveries(played: Sequence[Played], messages: Iterable[Message], template: bytes, *,
               topic: str = synth.MARKER_TOPIC, index_of: Callable[[Message], int | None] | None = None,
               outage: tuple[float, float] | None = None, within: float = 0.0) -> list[Delivery]:
    """Each played telegram's fate, from the marker values that reached the
    subscriber; or from another `topic` whose value names its telegram, with
    `index_of` (message -> index in the sequence, None: no telegram's value).

    outage = (down, back), `within` as for delivery_problems: a value arriving
    by back + within whose index is also that of a telegram that ended by
    down + IN_FLIGHT_S, while the latest with it ended during the outage, is
    taken for the earlier one: a value the bridge had on its way when the
    network went and sends again once it is back (mqtt_as resends an
    unacknowledged QoS 1 publish), not the later telegram's published late."""
    first: dict[int, float] = {}
    by_index: dict[int, list[Played]] = {}
    for p in played:
        by_index.setdefault(p.index, []).append(p)
    for m in messages:
        if m.name != topic or m.retain:
            continue
        index = index_of(m) if index_of is not None else synth.index_of(template, m.text)
        if index is None:
            continue  # not a value of this sequence
        begun = [p for p in by_index.get(index, ()) if p.start <= m.at]
        if begun:
            number = begun[-1].number
            if outage is not None and m.at <= outage[1] + within and begun[-1].end > outage[0] + IN_FLIGHT_S:
                on_its_way = [p for p in begun if p.end <= outage[0] + IN_FLIGHT_S]
                if on_its_way and begun[-1].end <= outage[1]:
                    number = on_its_way[-1].number
            first[number] = min(first.get(number, m.at), m.at)
    out = []
    for p in played:
        at = first.get(p.number)
        newer = None
        if at is not None:
            newest = newest_ended(played, at)
            newer = newest if newest is not None and newest.number > p.number else None
        superseded = at is None and any(n > p.number and t <= p.end + LATE_S for n, t in first.items())
        out.append(Delivery(p, at, newer, superseded))
    return out


def _ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3–5, 9"."""
    parts, i = [], 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}–{numbers[j]}")
        i = j + 1
    return ", ".join(parts[:8]) + (f" and {len(parts) - 8} more ranges" if len(parts) > 8 else "")


def _telegrams(numbers: list[int]) -> str:
    return f"telegram{'s' if len(numbers) > 1 else ''} {_ranges(numbers)}"


def delivery_problems(found: list[Delivery], t0: float, *, outage: tuple[float, float] | None = None,
                      within: float = 0.0) -> list[str]:
    """Sentences for every telegram not delivered as it should be.

    outage = (down, back) host times the network was away; the bridge gets
    `within` s after `back` to publish again. Telegrams that ended between a
    second before `down` and back + within may be lost: superseded by newer
    ones. Telegrams that ended up to IN_FLIGHT_S after `down` may arrive stale
    once the network is back within `within`: their values were on their way
    (in the bridge's socket) when the network went. Nothing else may be late
    or stale."""
    def lost_excused(d):
        return outage is not None and outage[0] - 1 <= d.telegram.end <= outage[1] + within

    def in_flight(d):
        return (outage is not None and d.telegram.end <= outage[0] + IN_FLIGHT_S
                and d.published <= outage[1] + within)

    lost = [d for d in found if d.verdict == "lost" and not lost_excused(d)]
    late = [d for d in found if d.verdict == "late" and not in_flight(d)]
    stale = [d for d in found if d.verdict == "stale" and not in_flight(d)]
    problems = []
    if lost:
        first, last = lost[0].telegram.end - t0, lost[-1].telegram.end - t0
        problems.append(f"{_telegrams([d.telegram.number for d in lost])} lost: nothing published for "
                        + (f"it (it ended at {first:.1f} s)" if len(lost) == 1
                           else f"them (they ended between {first:.1f} and {last:.1f} s)")
                        + f", nor for a newer telegram within {LATE_S:.0f} s")
    if late:
        delays = [d.published - d.telegram.end for d in late]
        problems.append(f"{_telegrams([d.telegram.number for d in late])} late: published "
                        f"{min(delays):.1f}–{max(delays):.1f} s after they ended (more than {LATE_S:.0f} s)")
    if stale:
        worst = max(stale, key=lambda d: d.published - d.stale_after.end)
        problems.append(
            f"{_telegrams([d.telegram.number for d in stale])} stale: published after a newer telegram had ended, "
            f"e.g. the values of telegram {worst.telegram.number} published at {worst.published - t0:.1f} s, "
            f"{worst.published - worst.stale_after.end:.1f} s after telegram {worst.stale_after.number} ended: "
            "the bridge sent a backlog instead of the latest values")
    return problems


# --- the serial output --------------------------------------------------------

@dataclass(frozen=True)
class SerialEvent:
    at: float
    kind: str  # "traceback", "MemoryError", "reboot"
    text: str


_REBOOT = re.compile(r"MPY: soft reboot|rst cause:\s*\d+|^MicroPython v\d+\.\d+")
_EXCEPTION = re.compile(r"^(\w+(Error|Exception|Interrupt)|StopIteration|SystemExit)\b")


def _rom_noise(line: str) -> bool:
    # The ESP8266's boot ROM talks at 74880 baud: at 115200 it is a line of
    # unprintable bytes, the reset's signature on the serial port.
    odd = sum(1 for c in line if c == "\ufffd" or (ord(c) < 32 and c not in "\t"))
    return odd >= 4 and odd * 3 >= len(line)


def serial_events(lines: Sequence[str], times: Sequence[float]) -> list[SerialEvent]:
    """Tracebacks (with the exception they end in), MemoryError, and reboots
    (the boot ROM's noise, `MPY: soft reboot`, the MicroPython banner) in a
    board's log lines."""
    out: list[SerialEvent] = []
    in_traceback = False
    for line, at in zip(lines, times):
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
            continue
        if in_traceback and not line.startswith(" "):
            in_traceback = False
            out.append(SerialEvent(at, "traceback", line.strip()))
        if "MemoryError" in line:
            out.append(SerialEvent(at, "MemoryError", line.strip()))
        if _REBOOT.search(line) or _rom_noise(line):
            out.append(SerialEvent(at, "reboot", "boot ROM output" if _rom_noise(line) else line.strip()))
    return out


# --- the virtual board ----------------------------------------------------------

@dataclass(frozen=True)
class Restart:
    at: float
    cause: int  # machine.reset_cause() after it: 0 power-on, 4 soft reset, 6 hard reset, ...


RESET_CAUSES = {0: "power-on", 1: "watchdog", 2: "exception", 3: "soft watchdog", 4: "soft reset",
                5: "deep sleep", 6: "hard reset"}


@dataclass
class HeapTrace:
    """The board's heap as its HAL reported it: (host time, free, lowest free
    after a collection since the previous sample or -1, collections)."""
    samples: list[tuple[float, int, int, int]]

    def lowest(self, after: float = 0.0, before: float = float("inf")) -> tuple[float, int] | None:
        """(time, bytes) of the lowest free heap after a collection in the window."""
        lows = [(t, low) for t, _free, low, _n in self.samples if after <= t <= before and low >= 0]
        return min(lows, key=lambda x: x[1]) if lows else None

    def at_rest(self, before: float, window: float = 5.0) -> int | None:
        """Free heap after collections in the `window` s before `before`: the most
        of them (what the firmware holds at rest). Without a collection there,
        the most free heap sampled (garbage counted as held: a lower bound);
        None without samples."""
        window_samples = [(free, low) for t, free, low, _n in self.samples if before - window <= t <= before]
        lows = [low for _free, low in window_samples if low >= 0]
        if lows:
            return max(lows)
        return max((free for free, _low in window_samples), default=None)


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"
