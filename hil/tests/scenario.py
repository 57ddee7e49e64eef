"""What every overflow and network scenario checks, in one place, from outside.

A scenario (broker stalled, restarted, down at boot; WiFi lost) takes a
baseline while the line is idle, does its harm, and then asks for the
problems, judged on what the rig sees itself (hil.oracle.outside), for any bridge:

- telegram by telegram, what reached the subscriber: every telegram the
  network could carry published on time; none published stale (a backlog
  instead of the latest values); the latest values back within the stated
  time of the network returning;
- the bridge's serial output: no traceback, no MemoryError, no reboot;
- the board: no restart; on the virtual board, its heap (as the board samples
  it) bounded, and at the chip's heap never below the floor.

A bridge that publishes this project's `<base>/status` JSON adds detail: its
counters against what the emulator sent, its uptime. Not publishing one is no
problem. Each problem is a sentence that says what was expected and what
happened, with times from the scenario's start; the test hands the list to `why`.

Telegrams come from hil.p1.synth.sequence: each carries its index in
positive_energy_total, so a value on MQTT tells which telegram it came from;
the tariff register, the L1 voltage and the clock differ per telegram too, so
each of their values names its telegram as well. After an outage every value
is held to the oracle's value for the telegram it claims to be
(`recovery_problems`, `value_problems`): a topic that arrives with an old or
a wrong value fails.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from decimal import Decimal

from ..oracle.contract import published_table
from ..oracle.expected import expected_payloads, matches
from ..oracle.verdict import compare
from ..p1 import synth
from ..oracle.outside import (LATE_S, RESET_CAUSES, STALE_S, Played, delivery_problems, deliveries, kb,
                              newest_ended, serial_events)
from hil.rig.emulator import TelegramSent

# The bridge's lowest free heap during a scenario may fall this far below its
# free heap at rest: about one SX631 telegram's 44 values held as Python
# objects (a queue of telegrams costs this much per telegram).
HEAP_DROP_MAX = 4096
REPLAY_INTERVAL_MS = 1000  # the replay test's pace: a telegram a second, ten times the SX631's
LINE_BAUD = 115200
REBOOT_AFTER_S = 10.0  # a reboot this soon after a MemoryError is taken as its outcome
STATUS_SEEN_S = 4.0  # a bridge with a status topic has published one (retained) by then


# --- the status JSON of this project's bridge: extra evidence where it exists ---

def _live_status(m, after: float) -> bool:
    # Not the retained copy the broker hands a new subscriber: that one may
    # be older than the subscription (and arrive just after it).
    return m.name == "status" and not m.retain and m.at > after


def statuses(subscriber, after: float = 0.0) -> list[tuple[float, dict]]:
    """(arrival time, status JSON) of every <base>/status published live since `after`."""
    return [(m.at, json.loads(m.payload)) for m in subscriber.snapshot() if _live_status(m, after)]


def next_status(subscriber, after: float, timeout: float = 15) -> dict | None:
    """The newest status published after `after` (waits for one); None if none came."""
    if not subscriber.wait_for(lambda msgs: any(_live_status(m, after) for m in msgs), timeout):
        return None
    return statuses(subscriber, after)[-1][1]


def wait_status(subscriber, why, after: float, timeout: float = 15) -> dict:
    """next_status(), failing the test when no status comes."""
    status = next_status(subscriber, after, timeout)
    assert status is not None, why([f"no <base>/status message within {timeout} s"])
    return status


def has_status(subscriber) -> bool:
    """Does the bridge publish a <base>/status at all? (Retained: a subscriber
    gets it at once; a bridge that just booted publishes one within seconds.)"""
    return subscriber.wait_for(lambda msgs: any(m.name == "status" for m in msgs), STATUS_SEEN_S)


def status_counting(subscriber, before: dict, sent: int, after: float, timeout: float = 15) -> dict | None:
    """The first status published after `after` that counts all `sent` telegrams
    since `before`: the emulator reports a telegram sent before the bridge has read
    its last bytes, so the next status may have been built just before. If none
    does within timeout, the newest status (status_problems then says what is
    missing); None if no status came at all."""
    def counts(m):
        return _live_status(m, after) and json.loads(m.payload)["telegrams_ok"] - before["telegrams_ok"] >= sent
    subscriber.wait_for(lambda msgs: any(counts(m) for m in msgs), timeout)
    done = [st for _at, st in statuses(subscriber, after) if st["telegrams_ok"] - before["telegrams_ok"] >= sent]
    if done:
        return done[0]
    return next_status(subscriber, after, timeout=1)


def status_problems(base, after: dict | None, sent: int, *, superseded: bool | None) -> list[str]:
    """This project's bridge's counters against what the emulator sent (none for
    a bridge without a status topic): every telegram read, none bad; and, when
    the scenario kept values from going out (`superseded`), some of them
    superseded rather than queued, else (False) none superseded at all; None:
    either may be right (the bridge at the chip's speed, telegrams back to back)."""
    if base.status is None:
        return []
    if after is None:
        return ["the bridge published no <base>/status within 15 s of the line going idle, though it did before"]
    before = base.status
    problems = []
    read = after["telegrams_ok"] - before["telegrams_ok"]
    if read != sent:
        problems.append(f"the bridge's status counted {read} telegrams ok, the emulator sent {sent}")
    for counter in ("crc_errors", "truncated", "framing"):
        if after[counter] != before[counter]:
            problems.append(f"{counter} rose from {before[counter]} to {after[counter]} on a clean line")
    if superseded is True and after["superseded"] <= before["superseded"]:
        problems.append(f"superseded stayed at {after['superseded']} although values could not go out: "
                        "the bridge must have queued every telegram instead of keeping the latest")
    if superseded is False and after["superseded"] != before["superseded"]:
        problems.append(f"superseded rose from {before['superseded']} to {after['superseded']} "
                        "with a broker that keeps up: values were lost")
    return problems


def status_lines(base, after: dict | None) -> list[str]:
    """The statuses before and after, to show under the problems (none for a bridge without)."""
    if base.status is None:
        return []
    return [f"status before: {base.status}", f"status after: {after}"]


# --- the scenario, from outside ---

@dataclass
class Baseline:
    """The bridge at rest before the scenario."""
    t0: float  # host time the scenario began: times in problems count from here
    log_mark: int
    status: dict | None  # None: the bridge publishes no status
    heap_at_rest: int | None  # free heap after collections at rest (virtual board)


def baseline(rig, subscriber, bridge_board, status: dict | None = None) -> Baseline:
    """Taken with the line idle. A bridge with a status topic gives its next
    status (its counters then are current); `status` stands in for it when the
    scenario knows better (a bridge about to boot)."""
    t0 = time.monotonic()
    if status is None and has_status(subscriber):
        status = next_status(subscriber, after=t0)
    heap = bridge_board.heap(after=t0 - 10)
    return Baseline(t0, rig.bridge.mark(), status, heap.at_rest(before=time.monotonic()) if heap else None)


def played(template: bytes, sent: list[TelegramSent], spans) -> list[Played]:
    """The emulator's record as telegrams on the line: spans from the line
    model where it has them, else the emulator's report of each last byte."""
    if spans is None:
        spans = [(t.host_end - t.nbytes * 10 / LINE_BAUD, t.host_end) for t in sent]
    return [Played(k + 1, telegram_index(template, t), start, end)
            for k, (t, (start, end)) in enumerate(zip(sent, spans))]


def published_as(m, template: bytes, telegram: Played) -> bool:
    """Is m a live value of this telegram (its index, after it began)?"""
    return (m.name == synth.MARKER_TOPIC and not m.retain and m.at >= telegram.start
            and synth.index_of(template, m.text) == telegram.index)


def telegram_index(template: bytes, sent: TelegramSent) -> int:
    """Which telegram of the sequence file a played telegram was."""
    return sent.offset // len(template)


def delivery(subscriber, template: bytes, telegrams: list[Played], base: Baseline,
             outage: tuple[float, float] | None = None, within: float = 0.0) -> list[str]:
    """Telegram by telegram (hil.oracle.outside.deliveries): lost (outside the
    outage), late, or stale. Waits first until the last telegram is published,
    or until it could no longer be on time (LATE_S after it ended)."""
    if telegrams:
        last = telegrams[-1]
        subscriber.wait_for(lambda msgs: any(published_as(m, template, last) for m in msgs),
                            timeout=max(0.0, last.end + LATE_S - time.monotonic()))
    found = deliveries(telegrams, subscriber.snapshot(), template)
    return delivery_problems(found, base.t0, outage=outage, within=within)


def health_problems(rig, base: Baseline, bridge_board, heap_floor=None, *, restarts_expected: int = 0,
                    status_after: dict | None = None, drop_max: int = HEAP_DROP_MAX) -> list[str]:
    """No restart, no traceback, no MemoryError; heap bounded, and where the
    board has the chip's heap never below heap_floor = (bytes, what)."""
    t0 = base.t0
    problems = []
    log = rig.bridge.log
    events = serial_events(log.lines[base.log_mark:], log.times[base.log_mark:])
    restarts = bridge_board.restarts(after=t0)
    unexpected = restarts[restarts_expected:]
    memory = [e for e in events if e.kind == "MemoryError"]
    if memory:
        then = [r for r in unexpected if 0 <= r.at - memory[0].at <= REBOOT_AFTER_S]
        tail = (f", then a reboot at {then[0].at - t0:.1f} s ({RESET_CAUSES.get(then[0].cause, 'cause unknown')}"
                + (f", reset cause {then[0].cause})" if then[0].cause >= 0 else ")") if then else "")
        problems.append(f"MemoryError on the bridge's serial at {memory[0].at - t0:.1f} s{tail}: "
                        f"{memory[0].text!r}" + (f" ({len(memory)} in all)" if len(memory) > 1 else ""))
    if unexpected:
        problems.append(f"the bridge restarted {len(unexpected)} time(s) during the scenario: " + ", ".join(
            f"at {r.at - t0:.1f} s ({RESET_CAUSES.get(r.cause, 'cause unknown')}"
            + (f", reset cause {r.cause})" if r.cause >= 0 else ")") for r in unexpected[:5]))
    tracebacks = [e for e in events if e.kind == "traceback" and "MemoryError" not in e.text]
    if tracebacks:
        problems.append(f"a traceback on the bridge's serial at {tracebacks[0].at - t0:.1f} s: {tracebacks[0].text!r}"
                        + (f" ({len(tracebacks)} in all)" if len(tracebacks) > 1 else ""))
    crashes = [line for line in log.lines[base.log_mark:] if "application crashed" in line]
    if crashes:  # this project's bridge restarts its application without a reboot, and says so
        problems.append(f"the bridge's application failed {len(crashes)} time(s), first: {crashes[0]!r}")
    if base.status is not None and status_after is not None and not restarts \
            and status_after["uptime_s"] < base.status["uptime_s"]:
        problems.append(f"the bridge's uptime went back from {base.status['uptime_s']} to {status_after['uptime_s']} s: "
                        "its application started again")
    problems += _heap_problems(base, bridge_board, heap_floor, status_after, drop_max)
    return problems


def _heap_problems(base: Baseline, bridge_board, heap_floor, status_after: dict | None, drop_max: int) -> list[str]:
    trace = bridge_board.heap(after=base.t0)
    sampled = trace.lowest() if trace is not None else None
    if sampled is not None and base.heap_at_rest is not None:
        at_rest, (when, lowest) = base.heap_at_rest, sampled
        source = "as the board sampled it after collections"
    elif base.status is not None and status_after is not None:  # a real board: the bridge's own figures
        at_rest, when, lowest = base.status["heap_free"], None, status_after["heap_min_free"]
        source = "as the bridge's status reports it"
    else:
        return []
    problems = []
    at = f" at {when - base.t0:.1f} s" if when is not None else ""
    if lowest < at_rest - drop_max:
        problems.append(f"heap not bounded: it fell from {kb(at_rest)} free at rest to {kb(lowest)}{at} "
                        f"({source}; at most {drop_max} B below rest expected)")
    if heap_floor is not None and lowest < heap_floor[0]:
        problems.append(f"heap too low for the chip: {lowest} B free at the lowest{at}, "
                        f"{heap_floor[1]} must keep at least {heap_floor[0]} B")
    return problems


def figures(request, base: Baseline, bridge_board) -> None:
    """Print what the board showed of the heap (pytest -s shows it; a failure shows it anyway)."""
    trace = bridge_board.heap(after=base.t0)
    lowest = trace.lowest() if trace is not None else None
    if lowest is None or base.heap_at_rest is None:
        return
    print(f"{request.node.name}: bridge heap, sampled by the board after collections: "
          f"{base.heap_at_rest:,} B free at rest, lowest {lowest[1]:,} B at {lowest[0] - base.t0:.1f} s; "
          f"restarts: {len(bridge_board.restarts(after=base.t0))}")


def oracle(template: bytes, index: int, expect: str = "all") -> dict[str, Decimal | str | dict]:
    """The oracle's values for telegram `index` of synth.sequence(template, ...) (a copy: the caller's to change)."""
    return dict(_oracle(template, index, expect))


@functools.cache
def _oracle(template: bytes, index: int, expect: str) -> dict[str, Decimal | str | dict]:
    return expected_payloads(synth.sequence(template, index + 1)[index], expect)


def varied_topics(template: bytes, expect: str = "all") -> tuple[str, ...]:
    """The topics whose value names its telegram (synth.varied), of those `expect` holds a bridge to."""
    names = {obis: name for obis, name, _kind in published_table()}
    held = oracle(template, 0, expect)
    return tuple(names[o] for o in synth.varied(template) if names.get(o) in held)


def published_whole(subscriber, template: bytes, index: int, since: float, timeout: float,
                    expect: str = "all") -> list[str]:
    """Waits until every expected topic has been published (live) after
    `since` with the oracle's value for telegram `index`. [] once so; else
    each topic without it, its last value against the oracle's."""
    want = oracle(template, index, expect)
    right: set[str] = set()
    seen = [0]  # messages looked at so far (the list only grows)

    def done(msgs) -> bool:
        for m in msgs[seen[0]:]:
            if not m.retain and m.at >= since and m.name in want and matches(m.payload, want[m.name]):
                right.add(m.name)
        seen[0] = len(msgs)
        return right >= set(want)

    if subscriber.wait_for(done, timeout):
        return []
    last = _last_live(subscriber, since, set(want) - right, until=None)
    missing = compare({n: v for n, v in want.items() if n not in right},
                      {n: last.get(n, []) for n in want if n not in right}).problems
    return [f"{len(want) - len(right)} topic(s) without the value of telegram {index + 1} of the sequence "
            f"within {timeout} s: " + "; ".join(missing[:12])]


def _current(telegrams: list[Played], at: float) -> list[Played]:
    """The telegrams whose values are current at `at`: begun by then and not
    older than the newest one that had ended STALE_S before (the stale rule
    of hil.oracle.outside.deliveries)."""
    newest = newest_ended(telegrams, at)
    floor = newest.number if newest is not None else 0
    return [t for t in telegrams if t.start <= at and t.number >= floor]


def _newest_begun(telegrams: list[Played], at: float, value_of) -> str:
    """What the newest telegram begun by `at` holds, for a problem's text
    (value_of: its index -> the value)."""
    begun = [t for t in telegrams if t.start <= at]
    return (f"telegram {begun[-1].number}, the newest begun, holds {value_of(begun[-1].index)}"
            if begun else "no telegram had begun")


def _last_live(subscriber, since: float, names: set[str], until: float | None) -> dict[str, list]:
    """name -> [its last live message in [since, until]] for each of `names` that has one."""
    last = {}
    for m in subscriber.snapshot():
        if not m.retain and m.name in names and m.at >= since and (until is None or m.at <= until):
            last[m.name] = [m]
    return last


def recovery_problems(subscriber, template: bytes, telegrams: list[Played], since: float, timeout: float,
                      expect: str = "all") -> list[str]:
    """Every expected topic published (live) within `timeout` s of the network
    coming back at `since` with a current value: the oracle's for a telegram
    that had begun by then and was not older than the newest one that had
    ended STALE_S before. The latest values, not what the bridge held from
    before the outage nor a backlog. A latest-value bridge publishing back to
    back mixes telegrams within a round (its marker from one telegram, the
    voltage taken a moment earlier or later from a neighbour): each value is
    current, and value_problems() judges them telegram by telegram.

    Judged on the line's record (`telegrams`), so called once playback is
    over; waits for whatever of the window is still to come. [] once so; else
    each topic without a current value, its last value against the oracle's
    for the newest telegram begun by then."""
    held = set(oracle(template, 0, expect))
    until = since + timeout
    right: set[str] = set()
    seen = [0]  # messages looked at so far (the list only grows)

    def done(msgs) -> bool:
        for m in msgs[seen[0]:]:
            if (m.retain or m.name not in held or m.name in right or not since <= m.at <= until):
                continue
            if any(matches(m.payload, oracle(template, t.index, expect)[m.name]) for t in _current(telegrams, m.at)):
                right.add(m.name)
        seen[0] = len(msgs)
        return right >= held

    if subscriber.wait_for(done, max(0.0, until - time.monotonic())):
        return []
    out = []
    last = _last_live(subscriber, since, held - right, until)
    for name in sorted(held - right, key=list(oracle(template, 0, expect)).index):
        if name not in last:
            out.append(f"{name}: nothing published")
            continue
        m = last[name][0]
        said = _newest_begun(telegrams, m.at, lambda i: oracle(template, i, expect)[name])
        out.append(f"{name}: last {m.text!r} at {m.at - since:+.1f} s ({said})")
    return [f"{len(out)} topic(s) without a current value within {timeout} s (the value of a telegram begun by "
            f"then and not older than one that had ended {STALE_S:g} s before): " + "; ".join(out[:12])]


def value_problems(subscriber, template: bytes, telegrams: list[Played], base: Baseline, expect: str = "all",
                   outage: tuple[float, float] | None = None, within: float = 0.0) -> list[str]:
    """Every value published live during the scenario against the oracle: each
    must be the value of a telegram the emulator had begun by then (on a topic
    whose value names its telegram, synth.varied, that telegram's); and on
    those topics, telegram by telegram, none lost, late or stale, judged as the
    marker is (hil.oracle.outside.deliveries, the same outage allowances)."""
    if not telegrams:
        return []
    tables = {i: oracle(template, i, expect) for i in sorted({t.index for t in telegrams})}
    held = set(oracle(template, 0, expect))
    live = [m for m in subscriber.snapshot() if not m.retain and m.at >= base.t0 and m.name in held]
    first_start = {}
    for t in telegrams:
        first_start.setdefault(t.index, t.start)
    holding: dict[tuple[str, bytes], set[int]] = {}  # (name, payload) -> telegrams holding that value
    problems = []
    wrong: dict[str, list[str]] = {}
    for m in live:
        key = (m.name, m.payload)
        if key not in holding:
            holding[key] = {i for i, table in tables.items() if matches(m.payload, table[m.name])}
        if any(first_start[i] <= m.at for i in holding[key]):
            continue
        said = _newest_begun(telegrams, m.at, lambda i: tables[i][m.name])
        wrong.setdefault(m.name, []).append(f"{m.text!r} at {m.at - base.t0:.1f} s ({said})")
    for name, shown in wrong.items():
        problems.append(f"{name}: {len(shown)} value(s) that no telegram sent by then holds, e.g. "
                        + "; ".join(shown[:3]))
    for name in varied_topics(template, expect):
        if name == synth.MARKER_TOPIC:
            continue  # judged by delivery()
        index_of = _indexer({i: table[name] for i, table in tables.items()})
        found = deliveries(telegrams, live, template, topic=name, index_of=index_of, outage=outage, within=within)
        problems += [f"{name}: {p}" for p in delivery_problems(found, base.t0, outage=outage, within=within)]
    return problems


def _indexer(values: dict[int, Decimal | str]):
    """message -> the telegram index whose value it carries (None: none's)."""
    @functools.cache
    def of_payload(payload: bytes) -> int | None:
        return next((i for i, want in values.items() if matches(payload, want)), None)
    return lambda m: of_payload(m.payload)


def report(report_data, request, subscriber, events: list[tuple[float, str]] = ()) -> None:
    """The bridge's statuses during the test (heap, counters) and the
    scenario's events, for the run report's plots."""
    tid = request.node.nodeid
    for at, status in statuses(subscriber):
        report_data.add_status(tid, at, status)
    for at, text in events:
        report_data.add_event(tid, at, text)
