"""Liveness (config liveness_s): the watchdog proves only that the event loop
turns. A bridge that commits no telegram, or publishes nothing while values
wait and the broker link is up, for liveness_s says so in its status
("liveness"), makes the MQTT client reconnect, and liveness_s later, with still
no progress, asks for a reset; a healthy bridge, or one whose broker is away,
never does.

Two levels: Bridge.liveness() on a clock of the harness's own with a stand-in
client (run_liveness.py: minutes in milliseconds, any client behaviour), and
main.py's whole flow on the fake board against a real mosquitto (bridge_main's
watchdog task runs the check; the fake machine.reset() exits with code 4)."""

import json
import time

import pytest

from conftest import CAPTURES, FAKEBOARD_PATH, run_mpy
from test_mqtt import BASE, SX, Subscriber, bridge_config
from test_mqtt_as_fallback import MainLoop

CAPTURE = CAPTURES / "sx631_aux_3ph.p1"
L = 300  # liveness_s in the harness runs: the default


def liveness_run(scenario, seconds=2000, liveness_s=L):
    """(events, statuses): events as (t, "reconnect <why>" | "reset"); each
    STATUS line's JSON as (t, dict)."""
    out = run_mpy("run_liveness.py", CAPTURE, scenario, liveness_s, seconds)
    events, statuses = [], []
    for line in out.splitlines():
        if not line.startswith("t="):
            continue
        t, what = line[2:].split(" ", 1)
        if what.startswith("STATUS "):
            statuses.append((int(t), json.loads(what[7:])))
        else:
            events.append((int(t), what))
    return events, statuses, out


@pytest.mark.parametrize("scenario, why, first", [
    ("no_telegram", "no telegram", L),
    # Values wait from the first telegram (t=10) on; the check before it saw none.
    ("no_publish", "no publish", 9 + L),
])
def test_a_stall_is_reported_then_reconnects_then_resets(scenario, why, first):
    events, statuses, out = liveness_run(scenario)
    assert events == [(first, f"reconnect liveness: {why} for {L} s"), (first + L, "reset")], out
    assert f"bridge: liveness: {why} for {L} s; reconnecting MQTT" in out
    assert f"bridge: liveness: {why} for {L} s; resetting the board" in out
    # The status from the reconnect on says why (the reconnect sends one at once).
    assert [(t, s["liveness"]) for t, s in statuses] == [(first, why), (first + L, why)], out


@pytest.mark.parametrize("scenario", ["healthy", "broker_down"])
def test_a_bridge_that_gets_somewhere_or_has_no_broker_never_trips(scenario):
    # broker_down: values wait, nothing is published, but the link is down:
    # the client's business (it reconnects with backoff), not a stalled bridge.
    events, statuses, out = liveness_run(scenario, seconds=7 * L)
    assert events == [], out
    assert statuses[-1][1]["liveness"] == "ok" and statuses[-1][1]["telegrams_ok"] == 7 * L // 10, out


def test_progress_after_the_reconnect_clears_the_stall_and_no_reset_follows():
    events, statuses, out = liveness_run("recovers")
    assert events == [(9 + L, f"reconnect liveness: no publish for {L} s")], out
    assert statuses[0][1]["liveness"] == "no publish" and statuses[-1][1]["liveness"] == "ok", out


def test_liveness_0_turns_it_off():
    events, _, out = liveness_run("no_telegram", liveness_s=0)
    assert events == [], out


def board(tmp_path, broker, **over):
    return MainLoop(tmp_path, FAKEBOARD_PATH, bridge_config(broker, backend="builtin", **over))


def statuses(sub, timeout):
    """The status messages that came within timeout (the subscriber's queue drained)."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            topic, payload, _ = sub.get(max(0.0, deadline - time.monotonic()), "")
        except AssertionError:
            break
        if topic == BASE + "/status":
            got.append(json.loads(payload))
    return got


def test_no_telegram_on_the_board_reports_reconnects_and_resets(tmp_path, broker):
    sub = Subscriber(broker)
    b = board(tmp_path, broker, liveness_s=2)
    try:
        b.p1_line()  # a meter that sends nothing
        started = b.wait_line("bridge: started")
        b.wait_line("bridge: mqtt connected to")
        b.wait_line("bridge: liveness: no telegram for 2 s; reconnecting MQTT")
        b.wait_line("bridge: mqtt disconnected: liveness: no telegram for 2 s")
        b.wait_line("bridge: mqtt connected to", count=2)
        reset = b.wait_line("fake: machine.reset()")
        assert b.proc.wait(10) == 4, b.output()
        assert b.count("bridge: liveness: no telegram for 2 s; resetting the board") == 1, b.output()
        # Not sooner than 2 x liveness_s after the start: an unplugged meter
        # cannot reset the board in a tight loop.
        assert reset - started >= 2 * 2 - 0.5, b.output()
        said = [s["liveness"] for s in statuses(sub, 2)]
        assert said[0] == "ok" and "no telegram" in said, said
    finally:
        b.kill()
        sub.close()


def test_a_healthy_board_never_trips(tmp_path, broker):
    b = board(tmp_path, broker, liveness_s=2)
    try:
        p1 = b.p1_line()
        b.wait_line("bridge: mqtt connected to")
        t0 = time.monotonic()
        n = 0
        # A meter sending every 0.5 s, for more than 3 x liveness_s: telegrams
        # commit and their values go out, so nothing may trip.
        while time.monotonic() - t0 < 7:
            p1.sendall(SX)
            n += 1
            b.wait_line("bridge: telegram ok", count=n)
            time.sleep(0.5)  # the meter's cadence, not a synchronisation
        assert b.count("liveness") == 0 and b.proc.poll() is None, b.output()
        assert b.count("mqtt connected to") == 1, b.output()
    finally:
        b.kill()
