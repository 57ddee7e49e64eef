"""Network trouble: the broker restarts, is down while the bridge boots, or
the WiFi is lost. The bridge must not reboot, must keep reading the line with
its heap bounded, and must publish the latest telegram's values within a
stated time of the network being back: the latest, not a backlog of what it
read meanwhile. Judged from outside (hil/tests/scenario.py); a bridge with
this project's status topic must also have counted every telegram."""
from __future__ import annotations

import math
import threading
import time

import pytest

from ..p1 import synth
from ..p1.captures import sx631
from ..oracle.outside import Played

from . import scenario

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # outages and their recovery times, heap bounds

SEQUENCE = 20  # distinct telegrams in the sequence file
INTERVAL_MS = 300  # start to start: a telegram every 0.3 s, the line 70 % busy
RECOVERY_S = 5  # mqtt.backoff_max_ms (4 s) plus a connect
OUTAGE_S = 4.0  # how long the restarted broker is away (its host rebooting, an upgrade)
# The bridge notices a silent link by its MQTT timeout (mqtt.timeout_ms, 10 s) + backoff.
WIFI_RECOVERY_S = 20
WIFI_DOWN_S = 12  # long enough that a bridge's MQTT link times out while the WiFi is away
# A bridge that has just booted: its counters start from zero.
FRESH_COUNTERS = {"uptime_s": 0, "telegrams_ok": 0, "crc_errors": 0, "truncated": 0, "framing": 0, "superseded": 0}


@pytest.fixture(scope="module")
def sequence(rig):
    template = sx631().data
    return template, rig.upload_capture("sequence20.p1", b"".join(synth.sequence(template, SEQUENCE)))


class _Player:
    """Plays the sequence file in the background for at least `seconds`."""

    def __init__(self, rig, remote: str, seconds: float):
        period = SEQUENCE * INTERVAL_MS / 1000  # the emulator's interval is start to start
        self.errors: list[BaseException] = []
        self.sent = []
        count = math.ceil(seconds / period)
        self._thread = threading.Thread(target=self._play, args=(rig, remote, count), daemon=True)
        self._thread.start()

    def _play(self, rig, remote, count):
        try:
            self.sent.extend(rig.play([remote], interval_ms=INTERVAL_MS, count=count))
        except BaseException as e:  # noqa: B902 - reported by the test thread
            self.errors.append(e)

    def join(self) -> None:
        self._thread.join()


def _caught_up(subscriber, template, played: list[Played], expect) -> list[str]:
    """Wait until the last telegram sent is published whole, every value the
    oracle's for it, so that nothing of this test is still on its way when the
    next test subscribes."""
    if not played:
        return []
    return scenario.published_whole(subscriber, template, played[-1].index, played[-1].start, timeout=20,
                                    expect=expect)


def _aftermath(rig, subscriber, template, player: _Player, base: scenario.Baseline, problems: list[str], *,
               down: float, back: float, within: float, what: str, bridge_board,
               line_telegrams, heap_floor, expect, request, heap_drop_max: int,
               restarts_expected: int = 0) -> list[str]:
    """What every scenario checks once the network is back and the line idle;
    adds to `problems` and returns the statuses before and after to show with them."""
    player.join()
    t0 = base.t0
    played = scenario.played(template, player.sent, line_telegrams(player.sent))
    for problem in _caught_up(subscriber, template, played, expect):
        problems.append(f"the last telegram sent (ended at {played[-1].end - t0:.1f} s) was never published "
                        f"whole: {problem}")
    if player.errors:
        problems.append(f"emulator playback failed: {player.errors[0]}")
    for problem in scenario.recovery_problems(subscriber, template, played, back, within, expect):
        problems.append(f"not every value was published within {within} s of {what} at {back - t0:.1f} s: {problem}")
    problems += scenario.delivery(subscriber, template, played, base, outage=(down, back), within=within)
    problems += scenario.value_problems(subscriber, template, played, base, expect, outage=(down, back),
                                        within=within)
    after = scenario.next_status(subscriber, after=time.monotonic()) if base.status is not None else None
    problems += scenario.health_problems(rig, base, bridge_board, heap_floor, status_after=after,
                                         restarts_expected=restarts_expected, drop_max=heap_drop_max)
    # This project's status, where the bridge has one: detail after what was seen from outside.
    problems += scenario.status_problems(base, after, len(player.sent), superseded=True)
    scenario.figures(request, base, bridge_board)
    return scenario.status_lines(base, after)


def test_broker_restart_recovers_without_reboot(rig, subscriber, broker, why, sequence, bridge_board,
                                                line_telegrams, report_data, request, heap_floor, expect,
                                                heap_drop_max):
    template, remote = sequence
    base = scenario.baseline(rig, subscriber, bridge_board)
    problems: list[str] = []
    player = _Player(rig, remote, seconds=OUTAGE_S + 10)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC and m.at > base.t0 for m in msgs) >= 3,
                        timeout=10)
    broker.stop()
    down = time.monotonic()
    time.sleep(OUTAGE_S)  # the scenario: how long the broker is away
    broker.start()
    back = time.monotonic()
    statuses = _aftermath(rig, subscriber, template, player, base, problems, down=down, back=back,
                          within=RECOVERY_S, what="the broker restarting",
                          bridge_board=bridge_board, line_telegrams=line_telegrams, heap_floor=heap_floor,
                          expect=expect, request=request, heap_drop_max=heap_drop_max)
    scenario.report(report_data, request, subscriber, [(down, "broker stopped"), (back, "broker started")])
    assert not problems, why(problems + statuses)


def test_broker_down_while_the_bridge_boots(rig, subscriber, broker, why, sequence, bridge_board,
                                            line_telegrams, report_data, request, heap_floor, expect,
                                                heap_drop_max):
    """Power comes back before the network: the bridge boots with no broker,
    reads telegrams meanwhile, and publishes as soon as the broker is there."""
    template, remote = sequence
    at_rest = scenario.next_status(subscriber, after=time.monotonic()) if scenario.has_status(subscriber) else None
    problems: list[str] = []
    subscriber.stop()
    broker.stop()
    down = time.monotonic()
    try:
        # A bridge that just booted: counters from zero, the heap as it was.
        base = scenario.baseline(rig, subscriber, bridge_board,
                                 status=dict(at_rest, **FRESH_COUNTERS) if at_rest else None)
        bridge_board.reset_and_wait_running()
        player = _Player(rig, remote, seconds=10)
        player.join()
    finally:
        broker.start()
    back = time.monotonic()
    subscriber.start()
    statuses = _aftermath(rig, subscriber, template, player, base, problems, down=down, back=back,
                          within=RECOVERY_S, what="the broker starting",
                          bridge_board=bridge_board, line_telegrams=line_telegrams, heap_floor=heap_floor,
                          expect=expect, request=request, heap_drop_max=heap_drop_max, restarts_expected=1)
    scenario.report(report_data, request, subscriber, [(down, "broker stopped, bridge reset"),
                                                       (back, "broker started")])
    assert not problems, why(problems + statuses)


def test_wifi_loss_recovers_without_reboot(rig, subscriber, why, sequence, bridge_board, wifi,
                                           line_telegrams, report_data, request, heap_floor, expect,
                                                heap_drop_max):
    if wifi is None:
        pytest.skip("WiFi loss is injected by the virtual rig")
    template, remote = sequence
    base = scenario.baseline(rig, subscriber, bridge_board)
    problems: list[str] = []
    player = _Player(rig, remote, seconds=30)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC and m.at > base.t0 for m in msgs) >= 3,
                        timeout=10)
    wifi(False)
    lost_at = time.monotonic()
    try:
        time.sleep(WIFI_DOWN_S)  # the scenario: how long the WiFi is away
    finally:
        wifi(True)
    back = time.monotonic()
    statuses = _aftermath(rig, subscriber, template, player, base, problems, down=lost_at, back=back,
                          within=WIFI_RECOVERY_S, what="WiFi coming back",
                          bridge_board=bridge_board, line_telegrams=line_telegrams, heap_floor=heap_floor,
                          expect=expect, request=request, heap_drop_max=heap_drop_max)
    scenario.report(report_data, request, subscriber, [(lost_at, "WiFi lost"), (back, "WiFi back")])
    first = min((m.at for m in subscriber.snapshot() if m.at >= back and m.name == synth.MARKER_TOPIC), default=None)
    leaked = [m for m in subscriber.snapshot() if lost_at + 0.5 < m.at < back and not m.retain]
    if leaked:
        problems.append(f"{len(leaked)} messages crossed a WiFi that was down")
    assert not problems, why(problems + statuses)
    print(f"WiFi back → first value on MQTT after {first - back:.1f} s" if first else "no value after WiFi")
