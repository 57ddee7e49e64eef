"""The rig's MQTT subscriber: what a Zabbix template or a dashboard would see.

A real paho-mqtt client subscribed to `<base>/#`; every message is kept with
the host time it arrived, and tests wait on a condition instead of sleeping.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import paho.mqtt.client as mqtt


from .broker import RIG_CLIENT_PREFIX
from .message import Message


class MqttError(Exception):
    pass


class Subscriber:
    def __init__(self, host: str, port: int, user: str, password: str, base_topic: str):
        self.base_topic = base_topic
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._answered = threading.Event()  # subscribed, or refused
        self._refused = None  # the broker's reason code when it refused the connection
        self._subscribed_at = 0.0
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{RIG_CLIENT_PREFIX}subscriber-{id(self):x}")
        self._client.username_pw_set(user, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def __enter__(self) -> "Subscriber":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 10) -> "Subscriber":
        """Connect and subscribe; MqttError says in one line what the broker
        answered (a refused login arrives in on_connect, where paho would drop
        an exception, so it is handed over here)."""
        where = f"MQTT broker {self._host}:{self._port}"
        try:
            self._client.connect(self._host, self._port, keepalive=30)
        except OSError as e:
            raise MqttError(f"{where}: cannot connect: {e.strerror or e}") from None
        self._client.loop_start()
        if not self._answered.wait(timeout):
            self.stop()
            raise MqttError(f"{where}: no answer to the rig's subscriber within {timeout} s")
        if self._refused is not None:
            self.stop()
            hint = (" (check the broker user and password in the rig config)"
                    if self._refused.value in (4, 5, 134, 135) else "")
            raise MqttError(f"{where} refused the rig's subscriber: {self._refused}{hint}")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason, properties):
        if reason.is_failure:
            self._refused = reason
            self._answered.set()
            return
        client.subscribe(f"{self.base_topic}/#", qos=1)

    def _on_subscribe(self, *args):
        self._subscribed_at = time.monotonic()
        self._answered.set()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def drop_live(self) -> None:
        """Forget every live message so far; keep the retained copies."""
        with self._cond:
            self.messages[:] = [m for m in self.messages if m.retain]

    def snapshot(self) -> list[Message]:
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float) -> bool:
        """Wait until predicate(messages) holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until no live (not retained) message has arrived for `quiet`
        seconds; False if that never happened within timeout. No message says
        when a bridge has done publishing, so a quiet spell is the only sign."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                live = [m.at for m in self.messages if not m.retain]
                now = time.monotonic()
                # Quiet since the last message, or since the subscription (watched that long).
                calm_until = max(live[-1] if live else 0.0, self._subscribed_at) + quiet
                if now >= calm_until:
                    return True
                if now >= deadline:
                    return False
                self._cond.wait(min(calm_until, deadline) - now)

    def wait_for_names(self, names, timeout: float, since: float = 0.0) -> bool:
        """Wait until every topic name in `names` has arrived live (not a
        retained copy) since `since`; False on timeout."""
        want = set(names)
        return self.wait_for(lambda msgs: {m.name for m in msgs if m.at >= since and not m.retain} >= want, timeout)

    def values(self, retained: bool = False) -> dict[str, list[Message]]:
        """Messages per topic name (value topics only unless retained=True)."""
        out: dict[str, list[Message]] = {}
        for m in self.snapshot():
            if m.retain and not retained:
                continue
            out.setdefault(m.name, []).append(m)
        return out
