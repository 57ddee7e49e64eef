"""What every overflow and network scenario checks, in one place.

A scenario (broker stalled, restarted, down at boot; WiFi lost) takes a
baseline while the line is idle, does its harm, and then asks for the
problems: the bridge rebooted or its application crashed; its heap was not
bounded; its counters disagree with what the emulator sent; values did not
recover within the stated time; or it published a backlog of stale values
instead of the latest ones. Each problem is a sentence that says what was
expected and what happened; the test hands the list to `why`.

Telegrams come from hil.synth.sequence: each carries its index in
positive_energy_total, so a value on MQTT tells which telegram it came from.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Callable

from hil import synth
from hil.expected import expected_payloads
from hil.rig.board import BoardTimeout
from hil.rig.emulator import TelegramSent

# The bridge's lowest free heap during a scenario may fall this far below its
# free heap at rest: about one SX631 telegram's 44 values held as Python
# objects (a queue of telegrams costs this much per telegram).
HEAP_DROP_MAX = 4096
# A value published this long after a newer telegram had ended is stale: the
# bridge publishes a backlog instead of the latest values (a latest-value
# bridge at most finishes the few messages already in flight).
STALE_S = 1.0


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


def status_counting(subscriber, before: dict, sent: int, after: float, timeout: float = 15) -> dict | None:
    """The first status published after `after` that counts all `sent` telegrams
    since `before`: the emulator reports a telegram sent before the bridge has read
    its last bytes, so the next status may have been built just before. If none
    does within timeout, the newest status (counter_problems then says what is
    missing); None if no status came at all."""
    def counts(m):
        return _live_status(m, after) and json.loads(m.payload)["telegrams_ok"] - before["telegrams_ok"] >= sent
    subscriber.wait_for(lambda msgs: any(counts(m) for m in msgs), timeout)
    done = [(at, st) for at, st in statuses(subscriber, after) if st["telegrams_ok"] - before["telegrams_ok"] >= sent]
    if done:
        return done[0][1]
    return next_status(subscriber, after, timeout=1)


def wait_status(subscriber, why: Callable[[list[str]], str], after: float, timeout: float = 15) -> dict:
    """next_status(), failing the test when no status comes."""
    status = next_status(subscriber, after, timeout)
    assert status is not None, why([f"no <base>/status message within {timeout} s"])
    return status


def telegram_index(template: bytes, sent: TelegramSent) -> int:
    """Which telegram of the sequence file a played telegram was."""
    return sent.offset // len(template)


@dataclass
class Baseline:
    """The bridge at rest before the scenario."""
    status: dict
    resets: int
    log_mark: int


def baseline(rig, subscriber, why, bridge_resets) -> Baseline:
    """A status published from now on: with the line idle its counters are current."""
    mark = rig.bridge.mark()
    return Baseline(wait_status(subscriber, why, after=time.monotonic()), bridge_resets(), mark)


def health_problems(rig, base: Baseline, after: dict, bridge_resets, heap_floor=None) -> list[str]:
    """No reboot, no application crash, heap bounded; and, where the board has
    the chip's heap, never below heap_floor = (bytes, what) at its lowest."""
    problems = []
    resets = bridge_resets()
    if resets != base.resets:
        problems.append(f"the bridge rebooted: {resets - base.resets} reset(s) during the scenario")
    elif after["uptime_s"] < base.status["uptime_s"]:
        problems.append(f"the bridge's uptime went back from {base.status['uptime_s']} to {after['uptime_s']} s: "
                        "its application started again")
    crashes = [line for line in rig.bridge.log.lines[base.log_mark:] if "application crashed" in line]
    if crashes:
        problems.append(f"the bridge's application failed {len(crashes)} time(s), first: {crashes[0]!r}")
    floor = base.status["heap_free"] - HEAP_DROP_MAX
    if after["heap_min_free"] < floor:
        problems.append(f"heap not bounded: lowest free heap {after['heap_min_free']} B, expected at least "
                        f"{floor} B ({base.status['heap_free']} B free at rest minus {HEAP_DROP_MAX} B)")
    if heap_floor is not None and after["heap_min_free"] < heap_floor[0]:
        problems.append(f"heap too low for the chip: lowest free heap {after['heap_min_free']} B, "
                        f"{heap_floor[1]} must keep at least {heap_floor[0]} B")
    return problems


def counter_problems(before: dict, after: dict, sent: int, *, superseded: bool) -> list[str]:
    """The bridge's counters against what the emulator sent: every telegram
    read, none bad; and, when the scenario kept values from going out,
    some of them superseded rather than queued."""
    problems = []
    read = after["telegrams_ok"] - before["telegrams_ok"]
    if read != sent:
        problems.append(f"the bridge counted {read} telegrams ok, the emulator sent {sent}")
    for counter in ("crc_errors", "truncated", "framing"):
        if after[counter] != before[counter]:
            problems.append(f"{counter} rose from {before[counter]} to {after[counter]} on a clean line")
    if superseded and after["superseded"] <= before["superseded"]:
        problems.append(f"superseded stayed at {after['superseded']} although values could not go out: "
                        "the bridge must have queued every telegram instead of keeping the latest")
    return problems


def recovered(subscriber, template: bytes, since: float, timeout: float) -> bool:
    """Every field of the telegram published (not retained) after `since`."""
    return subscriber.wait_for_names(expected_payloads(template), timeout, since=since)


def stale_problems(subscriber, template: bytes, sent: list[TelegramSent], ends: list[float],
                   since: float) -> list[str]:
    """Values published after `since` that a newer telegram had superseded
    more than STALE_S before: a backlog, not the latest values."""
    stale = []
    for m in subscriber.snapshot():
        if m.name != synth.MARKER_TOPIC or m.retain or m.at < since:
            continue
        index = synth.index_of(template, m.text)
        mine = [k for k, t in enumerate(sent) if telegram_index(template, t) == index and ends[k] <= m.at]
        if not mine:
            continue  # from before the scenario's playback
        newer = [ends[k] for k in range(mine[-1] + 1, len(sent)) if ends[k] <= m.at - STALE_S]
        if newer:
            stale.append(f"telegram {index} at +{m.at - since:.1f} s, {m.at - newer[-1]:.1f} s after a newer "
                         "one had ended")
    if not stale:
        return []
    return [f"{len(stale)} stale value(s) of {synth.MARKER_TOPIC} published after the network was back, "
            f"e.g. {'; '.join(stale[:3])}: the bridge sent a backlog instead of the latest values"]


def report(report_data, request, subscriber, events: list[tuple[float, str]] = ()) -> None:
    """The bridge's statuses during the test (heap, counters) and the
    scenario's events, for the run report's plots."""
    tid = request.node.nodeid
    for at, status in statuses(subscriber):
        report_data.add_status(tid, at, status)
    for at, text in events:
        report_data.add_event(tid, at, text)


def expect_log(rig, problems: list[str], pattern: str, count: int, timeout: float, since: int, what: str) -> None:
    """Wait for `count` bridge log lines matching `pattern`; when they do not
    come, note the problem and let the scenario go on to its other checks
    (a crashed bridge says more in them than a timeout here)."""
    try:
        rig.bridge.expect_lines(pattern, count, timeout, since=since)
    except BoardTimeout:
        got = sum(bool(re.search(pattern, line)) for line in rig.bridge.log.lines[since:])
        problems.append(f"{what}: expected {count} bridge log line(s) matching {pattern!r} within {timeout} s, "
                        f"got {got}")
