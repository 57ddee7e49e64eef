"""Bridge app + built-in MQTT client (mqtt_min) on the MicroPython unix port against a
real, password-protected mosquitto, checked by a paho-mqtt subscriber."""

import json
import queue
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from conftest import CAPTURES, mpy_cmd, mpy_env, ROOT
from test_reader import expected

SX = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAG = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()
BASE = "p1test"


class Subscriber:
    def __init__(self, broker, topic=BASE + "/#"):
        self.q = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.c.username_pw_set(broker.user, broker.password)
        ready = threading.Event()
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic)
        self.c.on_message = lambda c, u, m: self.q.put((m.topic, m.payload.decode(), m.retain))
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert ready.wait(5), "subscriber not subscribed"

    def get(self, timeout, why):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MQTT message within {timeout} s: {why}") from None

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def bridge_config(broker, password=None, **over):
    """A config.json for the bridge under test; mqtt.* keys and top-level keys in `over`."""
    mqtt_keys = {"qos", "max_inflight", "timeout_ms", "backoff_max_ms", "keepalive", "backend"}
    mqtt = {"host": broker.host, "port": broker.port, "user": broker.user,
            "password": broker.password if password is None else password,
            "client_id": "p1bridge-test", "keepalive": 60}
    mqtt.update({k: v for k, v in over.items() if k in mqtt_keys})
    cfg = {"wifi": {"ssid": "test"}, "mqtt": mqtt, "base_topic": BASE, "boot_window_ms": 0}
    cfg.update({k: v for k, v in over.items() if k not in mqtt_keys})
    return cfg


class LoggedProcess:
    """A MicroPython process whose output lines are collected as they come, to be waited on."""

    WAIT_S = 15  # wait_line's default timeout

    def _collect(self, proc):
        self.proc = proc
        self.lines = []
        self._cv = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            with self._cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self._cv.notify_all()

    def wait_line(self, text, count=1, timeout=None):
        """Wait until `text` was logged `count` times; return the time of the last one."""
        with self._cv:
            ok = self._cv.wait_for(lambda: sum(text in l for l in self.lines) >= count,
                                   self.WAIT_S if timeout is None else timeout)
            at = time.monotonic()
        assert ok, f"bridge never logged {text!r} x{count}; log:\n" + self.output()
        return at

    def count(self, text):
        with self._cv:
            return sum(text in l for l in self.lines)

    def output(self):
        with self._cv:
            return "\n".join(self.lines)

    def _end(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class Bridge(LoggedProcess):
    """The MicroPython bridge process plus the TCP socket that plays its UART0."""

    def __init__(self, broker, password=None, heapsize="256k", path=None, **over):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(20)
        self._dir = tempfile.TemporaryDirectory(prefix="p1bridge-test-")
        cfg_path = Path(self._dir.name) / "config.json"
        cfg_path.write_text(json.dumps(bridge_config(broker, password, **over)))
        env = mpy_env()
        if path is not None:  # e.g. precompiled .mpy modules instead of the sources
            env["MICROPYPATH"] = path
        self._collect(subprocess.Popen(mpy_cmd("run_bridge.py", cfg_path, "127.0.0.1", self.srv.getsockname()[1],
                                               heapsize=heapsize),
                                       env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        self.uart, _ = self.srv.accept()

    def kill(self):
        self._end()
        self.uart.close()
        self.srv.close()
        self._dir.cleanup()


SERVICE = (BASE + "/online", BASE + "/status")


def collect_telegram(sub, bridge, broker, n=44, timeout=15):
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"got {len(got)}/{n} values: {sorted(got)}\nbridge log:\n{bridge.output()}\n"
                                 f"broker log ({broker.log_path}):\n{broker.log_tail(20)}")
        topic, payload, retain = sub.get(left, "telegram values")
        if topic in SERVICE:
            continue
        name = topic[len(BASE) + 1:]
        assert name not in got, f"{name} published twice for one telegram"
        assert not retain, f"{topic} must not be retained"
        got[name] = payload
    return got


def collect_latest(sub, bridge, want, timeout=15):
    """Read messages until the latest payload of every topic in `want` equals it."""
    latest = {}
    deadline = time.monotonic() + timeout
    while any(latest.get(k) != v for k, v in want.items()):
        left = deadline - time.monotonic()
        if left <= 0:
            wrong = {k: latest.get(k) for k, v in want.items() if latest.get(k) != v}
            raise AssertionError(f"not the latest values within {timeout} s: {wrong}\nbridge log:\n{bridge.output()}")
        topic, payload, _ = sub.get(left, "latest values")
        if topic not in SERVICE:
            latest[topic[len(BASE) + 1:]] = payload
    return {k: latest[k] for k in want}


def test_bridge_publishes_every_value_online_and_lwt(broker):
    sub = Subscriber(broker)
    bridge = Bridge(broker)
    try:
        bridge.wait_line("bridge: mqtt connected to 127.0.0.1:%d" % broker.port)
        assert sub.get(10, "status after connect")[0] == BASE + "/status"
        assert sub.get(10, "online after connect") == (BASE + "/online", "online", False)

        bridge.uart.sendall(SX)
        assert collect_telegram(sub, bridge, broker) == expected(SX)
        bridge.wait_line("bridge: telegram ok crc=5C2E values=44")
        bridge.uart.sendall(SAG)
        assert collect_telegram(sub, bridge, broker) == expected(SAG)

        # The online flag is retained: a late subscriber still sees it.
        late = Subscriber(broker, BASE + "/online")
        try:
            assert late.get(5, "retained online") == (BASE + "/online", "online", True)
        finally:
            late.close()

        # A bad telegram publishes nothing; the next good one does.
        bad = bytearray(SX)
        bad[700] ^= 0x04
        bridge.uart.sendall(bytes(bad))
        bridge.wait_line("bridge: crc error got=5C2E")
        bridge.uart.sendall(SX)
        assert collect_telegram(sub, bridge, broker) == expected(SX)

        # Broker outage: restart on the same port; the bridge reconnects and goes on.
        # After the reconnect it republishes its latest values (the SX631's), and
        # then the next telegram's; the last message per topic is the newest value.
        broker.restart()
        bridge.wait_line("bridge: mqtt disconnected")
        bridge.wait_line("bridge: mqtt connected to", count=2)
        sub.close()
        sub = Subscriber(broker)
        bridge.uart.sendall(SAG)
        assert collect_latest(sub, bridge, expected(SAG)) == expected(SAG)

        # Death without DISCONNECT: the broker publishes the retained LWT.
        bridge.kill()
        while True:
            topic, payload, retain = sub.get(15, "LWT offline after the bridge died")
            if topic == BASE + "/online" and payload == "offline":
                break
    finally:
        bridge.kill()
        sub.close()
    late = Subscriber(broker, BASE + "/online")
    try:
        assert late.get(5, "retained LWT") == (BASE + "/online", "offline", True)
    finally:
        late.close()


def test_wrong_password_is_reported_and_nothing_published(broker):
    sub = Subscriber(broker)
    bridge = Bridge(broker, password="wrong")
    try:
        bridge.wait_line("broker refused connection")
        bridge.uart.sendall(SX)
        bridge.wait_line("telegram ok crc=5C2E")  # reading goes on without MQTT
        bridge.wait_line("broker refused connection", count=2)  # and it keeps retrying
        assert sub.q.empty(), f"published without auth: {sub.q.get()}"
        assert bridge.proc.poll() is None, "bridge exited on auth failure:\n" + bridge.output()
    finally:
        bridge.kill()
        sub.close()
