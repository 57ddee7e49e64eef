"""QoS 1, the in-flight window, a stalled (SIGSTOPped) broker, the status topic and
the reader's silence timeout, with the bridge app (bridge.from_config, as main.py
builds it) on the MicroPython unix port against a real mosquitto."""

import json
import time

import pytest

from hil.p1 import framing as p1
from test_mqtt import BASE, SAG, SX, Bridge, Subscriber, collect_latest, collect_telegram
from test_reader import expected

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # how soon the bridge notices a missing PUBACK

VOLTAGE_L1 = "1-0:32.7.0"
STATUS_KEYS = {"version", "mqtt_backend", "reader", "uptime_s", "reset_cause", "heap_free", "heap_min_free", "telegrams_ok",
               "crc_errors", "truncated", "framing", "garbage", "overlong", "bad_values", "superseded",
               "mqtt_connects", "mqtt_reconnects", "published", "pubacks", "mqtt_lost", "wifi_reconnects", "liveness"}


def marked(i: int) -> bytes:
    """The SX631 telegram with L1 voltage 100.0 + i (new CRC): tells telegrams apart."""
    return p1.replace_value(SX, VOLTAGE_L1, "%05.1f" % (100 + i))


def wait_status(sub, pred=lambda s: True, timeout=10, why="status"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no status matching {why} within {timeout} s; last: {last}")
        try:
            topic, payload, _ = sub.get(left, why)
        except AssertionError:
            raise AssertionError(f"no status matching {why} within {timeout} s; last: {last}") from None
        if topic == BASE + "/status":
            last = s = json.loads(payload)
            if pred(s):
                return s


def test_qos1_pubacks_and_status_content(broker):
    sub = Subscriber(broker)
    bridge = Bridge(broker, status_interval_s=1, qos=1)
    try:
        bridge.wait_line("mqtt connected")
        first = wait_status(sub, why="status at connect")
        assert set(first) == STATUS_KEYS
        assert first["version"] == "0.2.0" and first["mqtt_backend"] == "builtin" and first["reader"] == "native"
        assert first["reset_cause"] == 0 and first["mqtt_connects"] == 1 and first["mqtt_reconnects"] == 0
        assert first["telegrams_ok"] == 0
        bad = bytearray(SX)
        bad[SX.index(b"000812.421") + 3] ^= 0x02  # a digit stays a digit: a pure CRC error
        bridge.uart.sendall(SX + bytes(bad) + b"\x00garbage\xff" + SAG)
        assert collect_latest(sub, bridge, expected(SAG)) == expected(SAG)
        # Every value message of both telegrams was acknowledged (QoS 1) and counted.
        s = wait_status(sub, lambda s: s["telegrams_ok"] == 2 and s["pubacks"] == s["published"], why="acked")
        assert s["crc_errors"] == 1 and s["garbage"] == 9 and s["truncated"] == 0
        # Back to back, SAG's values may supersede SX631 values not yet sent.
        assert s["published"] >= 44 + 2 and s["mqtt_lost"] == 0 and s["superseded"] <= 1
        assert 0 < s["heap_min_free"] <= s["heap_free"]
        assert s["uptime_s"] >= first["uptime_s"]
        # Retained: a late subscriber gets the last status.
        late = Subscriber(broker, BASE + "/status")
        try:
            topic, payload, retain = late.get(5, "retained status")
            assert retain and set(json.loads(payload)) == STATUS_KEYS
        finally:
            late.close()
    finally:
        bridge.kill()
        sub.close()


def test_qos0_also_publishes_every_value(broker):
    sub = Subscriber(broker)
    bridge = Bridge(broker, qos=0)
    try:
        bridge.wait_line("mqtt connected")
        bridge.uart.sendall(SAG)
        assert collect_telegram(sub, bridge, broker) == expected(SAG)
    finally:
        bridge.kill()
        sub.close()


def test_silent_line_inside_telegram_truncates_in_run_loop(broker):
    bridge = Bridge(broker, telegram_timeout_ms=300)
    sub = Subscriber(broker)
    try:
        bridge.wait_line("mqtt connected")
        bridge.uart.sendall(SX[:1200])  # then nothing: the line goes silent mid-telegram
        sent = time.monotonic()
        at = bridge.wait_line("truncated telegram: line silent for 300 ms", timeout=5)
        assert 0.25 <= at - sent < 1.5, f"timeout noticed after {at - sent:.3f} s"
        bridge.uart.sendall(SAG)  # the reader hunts for the next '/' and reads it whole
        bridge.wait_line("telegram ok crc=99DA values=44")
        assert collect_latest(sub, bridge, expected(SAG)) == expected(SAG)
        assert "telegram ok crc=5C2E" not in bridge.output()
    finally:
        bridge.kill()
        sub.close()


# window-stall: shorter than timeout_ms, the connection survives; drop-and-reconnect:
# the missing PUBACKs drop it and CONNACKs time out; long-outage: the backoff
# reaches backoff_max_ms (default 4000), the worst case for the 5 s promise.
@pytest.mark.parametrize("timeout_ms,stall_s", [(10000, 4), (2000, 7), (2000, 13)],
                         ids=["window-stall", "drop-and-reconnect", "long-outage"])
def test_stalled_broker_supersedes_then_latest_values_within_5s(broker, timeout_ms, stall_s, record_property):
    sub = Subscriber(broker)
    bridge = Bridge(broker, qos=1, max_inflight=4, timeout_ms=timeout_ms, status_interval_s=1)
    try:
        bridge.wait_line("mqtt connected")
        bridge.uart.sendall(marked(0))
        assert collect_latest(sub, bridge, expected(marked(0))) == expected(marked(0))
        before = wait_status(sub, lambda s: s["telegrams_ok"] == 1 and s["pubacks"] == s["published"])

        broker.pause()
        paused = time.monotonic()
        n = 12
        for i in range(1, n + 1):  # the reader goes on while the publisher is stuck
            bridge.uart.sendall(marked(i))
            bridge.wait_line("telegram ok", count=1 + i, timeout=5)
        if timeout_ms < stall_s * 1000:
            bridge.wait_line("mqtt disconnected: no PUBACK for %d ms (4 in flight)" % timeout_ms, timeout=stall_s)
        left = stall_s - (time.monotonic() - paused)
        if left > 0:
            time.sleep(left)  # the stall itself is the condition under test: keep it for stall_s
        while not sub.q.empty():
            sub.q.get()
        broker.resume()
        resumed = time.monotonic()
        last = expected(marked(n))
        assert collect_latest(sub, bridge, last, timeout=5) == last
        took = time.monotonic() - resumed
        record_property("latest_values_after_resume_s", round(took, 3))
        print(f"stall {stall_s} s, timeout_ms {timeout_ms}: latest values {took:.2f} s after resume")

        after = wait_status(sub, lambda s: s["telegrams_ok"] == n + 1, why="status after the stall")
        assert after["superseded"] >= n - 1, after
        # Nothing piled up: the heap's low-water mark over the stall stays close
        # to where it was before, whatever the backlog was.
        assert after["heap_min_free"] >= before["heap_min_free"] - 4096, (before, after)
        assert after["heap_free"] >= before["heap_free"] - 2048, (before, after)
        assert after["published"] - after["pubacks"] - after["mqtt_lost"] <= 4
        if timeout_ms < stall_s * 1000:
            assert after["mqtt_reconnects"] >= 1 and after["mqtt_lost"] >= 4
        else:
            assert after["mqtt_connects"] == 1 and after["mqtt_lost"] == 0
        # A frozen broker may deliver a dead connection's LWT late; the bridge's
        # retained online flag still ends up "online".
        wait_status(sub, lambda s: s["uptime_s"] > after["uptime_s"], why="a later status")
        late = Subscriber(broker, BASE + "/online")
        try:
            assert late.get(5, "retained online") == (BASE + "/online", "online", True)
        finally:
            late.close()
    finally:
        bridge.kill()
        sub.close()
