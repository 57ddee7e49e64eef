"""Network trouble: the broker restarts, or is down while the bridge boots.
The bridge must not reboot, must keep reading the line, and must publish the
latest telegram's values within a few seconds of the broker being back."""
from __future__ import annotations

import json
import threading
import time

import pytest

from hil import synth
from hil.captures import load_index
from hil.expected import expected_payloads

RECOVERY_S = 5  # mqtt.backoff_max_ms (4 s) plus a connect


@pytest.fixture(scope="module")
def sequence(rig):
    template = next(c for c in load_index() if c.file.startswith("sx631")).data
    return template, rig.upload_capture("sequence20.p1", b"".join(synth.sequence(template, 20)))


def _play_in_background(rig, remote, seconds: float):
    """Play the 20-telegram sequence at 300 ms; returns (thread, errors, sent)."""
    errors: list[BaseException] = []
    sent = []

    def play():
        try:
            sent.extend(rig.play([remote], interval_ms=300, count=max(1, int(seconds / 6))))
        except BaseException as e:  # noqa: B902 - reported by the test thread
            errors.append(e)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread, errors, sent


def _caught_up(subscriber, template, sent) -> bool:
    """Wait until the last telegram sent is published whole, so that nothing
    of this test is still on its way when the next test subscribes."""
    if not sent:
        return True
    last = sent[-1].offset // len(template)
    names = set(expected_payloads(template))

    def done(msgs):
        marks = [m.at for m in msgs if m.name == synth.MARKER_TOPIC and synth.index_of(template, m.text) == last]
        return bool(marks) and {m.name for m in msgs if m.at >= marks[-1] - 1 and not m.retain} >= names
    return subscriber.wait_for(done, timeout=20)


def _recovered(subscriber, template, since: float) -> bool:
    names = set(expected_payloads(template))
    return subscriber.wait_for(lambda msgs: {m.name for m in msgs if m.at >= since and not m.retain} >= names,
                               timeout=RECOVERY_S + 2)


def _aftermath(rig, subscriber, template, *, sent, errors, recovered, within: float, what: str,
               resets: int, bridge_resets, since: int) -> list[str]:
    """What every scenario checks once the network is back."""
    problems = []
    if not _caught_up(subscriber, template, sent):
        problems.append("the last telegram sent was never published whole")
    if errors:
        problems.append(f"emulator playback failed: {errors[0]}")
    if not recovered:
        problems.append(f"not every value was published within {within} s of {what}")
    if bridge_resets() != resets:
        problems.append("the bridge rebooted")
    crashes = [line for line in rig.bridge.log.lines[since:] if "crashed" in line]
    if crashes:
        problems.append(f"the bridge's application failed: {crashes[0]!r}")
    return problems


def test_broker_restart_recovers_without_reboot(rig, subscriber, broker, why, sequence, bridge_resets):
    template, remote = sequence
    resets = bridge_resets()
    since = rig.bridge.mark()
    player, errors, sent = _play_in_background(rig, remote, seconds=12)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC for m in msgs) >= 3, timeout=10)
    broker.restart()
    back = time.monotonic()
    recovered = _recovered(subscriber, template, back)
    player.join()
    problems = _aftermath(rig, subscriber, template, sent=sent, errors=errors, recovered=recovered,
                          within=RECOVERY_S, what="the broker restarting", resets=resets,
                          bridge_resets=bridge_resets, since=since)
    assert not problems, why(problems)
    rig.bridge.expect_line(r"^bridge: mqtt connected", timeout=1, since=since)


def test_broker_down_while_the_bridge_boots(rig, subscriber, broker, why, sequence, bridge_resets):
    """Power comes back before the network: the bridge boots with no broker,
    reads telegrams meanwhile, and publishes as soon as the broker is there."""
    template, remote = sequence
    subscriber.stop()
    broker.stop()
    try:
        since = rig.bridge.mark()
        rig.restart_bridge()
        resets = bridge_resets()
        rig.bridge.expect_line(r"^bridge: mqtt (connect .* failed|disconnected|lost)", timeout=20, since=since)
        player, errors, sent = _play_in_background(rig, remote, seconds=6)
        rig.bridge.expect_lines(r"^bridge: telegram ok", 3, timeout=15, since=since)
    finally:
        broker.start()
    back = time.monotonic()
    subscriber.start()
    recovered = _recovered(subscriber, template, back)
    player.join()
    problems = _aftermath(rig, subscriber, template, sent=sent, errors=errors, recovered=recovered,
                          within=RECOVERY_S, what="the broker starting", resets=resets,
                          bridge_resets=bridge_resets, since=since)
    statuses = [json.loads(m.payload) for m in subscriber.snapshot() if m.name == "status"]
    if statuses and statuses[-1]["telegrams_ok"] < 3:
        problems.append(f"the bridge did not count the telegrams it read while offline: {statuses[-1]}")
    assert not problems, why(problems)


WIFI_RECOVERY_S = 20  # the bridge notices a silent link by its MQTT timeout (mqtt.timeout_ms, 10 s) + backoff


def test_wifi_loss_recovers_without_reboot(rig, subscriber, why, sequence, bridge_resets, wifi):
    if wifi is None:
        pytest.skip("WiFi loss is injected by the virtual rig")
    template, remote = sequence
    resets = bridge_resets()
    since = rig.bridge.mark()
    player, errors, sent = _play_in_background(rig, remote, seconds=30)
    subscriber.wait_for(lambda msgs: sum(m.name == synth.MARKER_TOPIC for m in msgs) >= 3, timeout=10)
    wifi(False)
    lost_at = time.monotonic()
    try:
        rig.bridge.expect_line(r"^bridge: wifi down", timeout=10, since=since)
        ok_before = len([x for x in rig.bridge.log.lines[since:] if x.startswith("bridge: telegram ok")])
        rig.bridge.expect_lines(r"^bridge: telegram ok", ok_before + 5, timeout=15, since=since)
    finally:
        wifi(True)
    back = time.monotonic()
    names = set(expected_payloads(template))
    recovered = subscriber.wait_for(
        lambda msgs: {m.name for m in msgs if m.at >= back and not m.retain} >= names, timeout=WIFI_RECOVERY_S)
    first = min((m.at for m in subscriber.snapshot() if m.at >= back and m.name == synth.MARKER_TOPIC), default=None)
    player.join()
    problems = _aftermath(rig, subscriber, template, sent=sent, errors=errors, recovered=recovered,
                          within=WIFI_RECOVERY_S, what="WiFi coming back", resets=resets,
                          bridge_resets=bridge_resets, since=since)
    leaked = [m for m in subscriber.snapshot() if lost_at + 0.5 < m.at < back and not m.retain]
    if leaked:
        problems.append(f"{len(leaked)} messages crossed a WiFi that was down")
    assert not problems, why(problems)
    print(f"WiFi back → first value on MQTT after {first - back:.1f} s" if first else "no value after WiFi")
