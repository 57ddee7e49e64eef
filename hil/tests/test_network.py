"""Network trouble: the broker restarts, is down while the bridge boots, or
the WiFi is lost. The bridge must not reboot, must keep reading the line with
its heap bounded, must count every telegram, and must publish the latest
telegram's values within a stated time of the network being back: the
latest, not a backlog of what it read meanwhile."""
from __future__ import annotations

import math
import threading
import time

import pytest

from hil import synth
from hil.captures import load_index
from hil.expected import expected_payloads

from . import scenario

SEQUENCE = 20  # distinct telegrams in the sequence file
INTERVAL_MS = 300  # start to start: a telegram every 0.3 s, the line 70 % busy
RECOVERY_S = 5  # mqtt.backoff_max_ms (4 s) plus a connect
OUTAGE_S = 4.0  # how long the restarted broker is away (its host rebooting, an upgrade)
# The bridge notices a silent link by its MQTT timeout (mqtt.timeout_ms, 10 s) + backoff.
WIFI_RECOVERY_S = 20
# A bridge that has just booted: its counters start from zero.
FRESH_COUNTERS = {"uptime_s": 0, "telegrams_ok": 0, "crc_errors": 0, "truncated": 0, "framing": 0, "superseded": 0}


@pytest.fixture(scope="module")
def sequence(rig):
    template = next(c for c in load_index() if c.file.startswith("sx631")).data
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


def _caught_up(subscriber, template, sent) -> bool:
    """Wait until the last telegram sent is published whole, so that nothing
    of this test is still on its way when the next test subscribes."""
    if not sent:
        return True
    last = scenario.telegram_index(template, sent[-1])
    names = set(expected_payloads(template))

    def done(msgs):
        marks = [m.at for m in msgs if m.name == synth.MARKER_TOPIC and synth.index_of(template, m.text) == last]
        return bool(marks) and {m.name for m in msgs if m.at >= marks[-1] - 1 and not m.retain} >= names
    return subscriber.wait_for(done, timeout=20)


def _aftermath(rig, subscriber, why, template, player: _Player, base: scenario.Baseline, problems: list[str], *,
               back: float, recovered: bool, within: float, what: str, bridge_resets,
               telegram_end_times, heap_floor) -> list[str]:
    """What every scenario checks once the network is back and the line idle;
    adds to `problems` and returns the statuses before and after to show with them."""
    player.join()
    if not _caught_up(subscriber, template, player.sent):
        problems.append("the last telegram sent was never published whole")
    if player.errors:
        problems.append(f"emulator playback failed: {player.errors[0]}")
    if not recovered:
        problems.append(f"not every value was published within {within} s of {what}")
    problems += scenario.stale_problems(subscriber, template, player.sent, telegram_end_times(player.sent), back)
    after = scenario.next_status(subscriber, after=time.monotonic())
    if after is None:
        problems.append("no <base>/status message within 15 s of the line going idle")
        return [f"status before: {base.status}"]
    problems += scenario.health_problems(rig, base, after, bridge_resets, heap_floor)
    problems += scenario.counter_problems(base.status, after, len(player.sent), superseded=True)
    return [f"status before: {base.status}", f"status after: {after}"]


def test_broker_restart_recovers_without_reboot(rig, subscriber, broker, why, sequence, bridge_resets,
                                                telegram_end_times, report_data, request, heap_floor):
    template, remote = sequence
    base = scenario.baseline(rig, subscriber, why, bridge_resets)
    problems: list[str] = []
    player = _Player(rig, remote, seconds=OUTAGE_S + 10)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC for m in msgs) >= 3, timeout=10)
    broker.stop()
    down = time.monotonic()
    time.sleep(OUTAGE_S)  # the scenario: how long the broker is away
    broker.start()
    back = time.monotonic()
    recovered = scenario.recovered(subscriber, template, back, timeout=RECOVERY_S)
    statuses = _aftermath(rig, subscriber, why, template, player, base, problems, back=back, recovered=recovered,
                          within=RECOVERY_S, what="the broker restarting", bridge_resets=bridge_resets,
                          telegram_end_times=telegram_end_times, heap_floor=heap_floor)
    scenario.report(report_data, request, subscriber, [(down, "broker stopped"), (back, "broker started")])
    scenario.expect_log(rig, problems, r"^bridge: mqtt connected", 1, timeout=1, since=base.log_mark,
                        what="after the restart")
    assert not problems, why(problems + statuses)


def test_broker_down_while_the_bridge_boots(rig, subscriber, broker, why, sequence, bridge_resets,
                                            telegram_end_times, report_data, request, heap_floor):
    """Power comes back before the network: the bridge boots with no broker,
    reads telegrams meanwhile, and publishes as soon as the broker is there."""
    template, remote = sequence
    at_rest = scenario.wait_status(subscriber, why, after=time.monotonic())
    problems: list[str] = []
    subscriber.stop()
    broker.stop()
    down = time.monotonic()
    try:
        since = rig.bridge.mark()
        rig.restart_bridge()
        base = scenario.Baseline(dict(at_rest, **FRESH_COUNTERS), bridge_resets(), since)
        scenario.expect_log(rig, problems, r"^bridge: mqtt (connect .* failed|disconnected|lost)", 1, timeout=20,
                            since=since, what="booting with the broker down")
        player = _Player(rig, remote, seconds=10)
        scenario.expect_log(rig, problems, r"^bridge: telegram ok", 3, timeout=15, since=since,
                            what="reading telegrams with the broker down")
    finally:
        broker.start()
    back = time.monotonic()
    subscriber.start()
    recovered = scenario.recovered(subscriber, template, back, timeout=RECOVERY_S)
    statuses = _aftermath(rig, subscriber, why, template, player, base, problems, back=back, recovered=recovered,
                          within=RECOVERY_S, what="the broker starting", bridge_resets=bridge_resets,
                          telegram_end_times=telegram_end_times, heap_floor=heap_floor)
    scenario.report(report_data, request, subscriber, [(down, "broker stopped, bridge reset"),
                                                       (back, "broker started")])
    assert not problems, why(problems + statuses)


def test_wifi_loss_recovers_without_reboot(rig, subscriber, why, sequence, bridge_resets, wifi,
                                           telegram_end_times, report_data, request, heap_floor):
    if wifi is None:
        pytest.skip("WiFi loss is injected by the virtual rig")
    template, remote = sequence
    base = scenario.baseline(rig, subscriber, why, bridge_resets)
    problems: list[str] = []
    player = _Player(rig, remote, seconds=30)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC for m in msgs) >= 3, timeout=10)
    wifi(False)
    lost_at = time.monotonic()
    try:
        scenario.expect_log(rig, problems, r"^bridge: wifi down", 1, timeout=10, since=base.log_mark,
                            what="losing WiFi")
        ok_before = len([x for x in rig.bridge.log.lines[base.log_mark:] if x.startswith("bridge: telegram ok")])
        scenario.expect_log(rig, problems, r"^bridge: telegram ok", ok_before + 5, timeout=15, since=base.log_mark,
                            what="reading telegrams without WiFi")
    finally:
        wifi(True)
    back = time.monotonic()
    recovered = scenario.recovered(subscriber, template, back, timeout=WIFI_RECOVERY_S)
    first = min((m.at for m in subscriber.snapshot() if m.at >= back and m.name == synth.MARKER_TOPIC), default=None)
    statuses = _aftermath(rig, subscriber, why, template, player, base, problems, back=back, recovered=recovered,
                          within=WIFI_RECOVERY_S, what="WiFi coming back", bridge_resets=bridge_resets,
                          telegram_end_times=telegram_end_times, heap_floor=heap_floor)
    scenario.report(report_data, request, subscriber, [(lost_at, "WiFi lost"), (back, "WiFi back")])
    leaked = [m for m in subscriber.snapshot() if lost_at + 0.5 < m.at < back and not m.retain]
    if leaked:
        problems.append(f"{len(leaked)} messages crossed a WiFi that was down")
    assert not problems, why(problems + statuses)
    print(f"WiFi back → first value on MQTT after {first - back:.1f} s" if first else "no value after WiFi")
