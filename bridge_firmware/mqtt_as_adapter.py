"""The bridge's MQTT interface (see mqtt_backend.py) on top of Peter Hinch's
mqtt_as 0.8.3 (micropython-mqtt), tested against the real library on the rig
(hil/tests/test_mqtt_as.py). mqtt_as must be frozen into the firmware image
with the bridge (manifest_mqtt_as.py): as .mpy or source it does not fit.

What mqtt_as does, and what this adapter makes of it:
  config, callback mode (queue_len 0): connect_coro / wifi_coro drive the
    bridge's up / down events; nothing is subscribed.
  connect(quick=True) once, retried here with backoff; afterwards mqtt_as
    reconnects by itself (its own task), dropping and rejoining WiFi each time.
  publish() returns only after the PUBACK (QoS 1), which mqtt_as looks for
    every 100 ms: one publish at a time would cap the bridge at 10 messages/s,
    and more at once cost ~700 B of heap each. So the adapter's subclass looks
    every 10 ms (_await_pid, mqtt_as 0.8.3's own loop with a shorter sleep),
    and each publish runs as its own task on a copy of topic and message (the
    bridge reuses its buffers), up to mqtt.max_inflight at once (default
    MAX_INFLIGHT: four tasks; the built-in client's 48 would not fit here). An error in such a task is raised by the next
    publish(), so it reaches the bridge's crash handler.
  After a drop mqtt_as would send unacknowledged messages again once
    reconnected: old values after newer ones. The adapter cancels them at the
    drop (counted as lost), as the built-in client does; the bridge
    republishes its latest values at the reconnect.
  mqtt.timeout_ms is mqtt_as's response_time (PUBACK, CONNACK, socket stall),
    and a PUBACK that late drops the link (max_repubs 0), as with the built-in.
  mqtt_as checks a new WiFi link for 5 s before every reconnect; the adapter
    skips that (wifi_connect(quick=True)), so values flow again within a
    second of the broker coming back instead of six.
  mqtt_as's reader allocates whatever length a packet claims; the adapter
    refuses reads longer than mqtt_as's initial 50-byte buffer (a publisher
    is sent nothing longer), logs it and drops the link (_as_read).
"""

import asyncio
from micropython import const
from time import ticks_ms

MAX_INFLIGHT = const(4)  # publish tasks at once when the config sets none


class Client:
    name = "mqtt_as"
    manages_wifi = True

    def __init__(self, mqtt_as, cfg, log, will_topic):
        m = cfg["mqtt"]
        w = cfg["wifi"]
        c = mqtt_as.config  # the module's defaults, completed as its README shows
        c["server"] = m["host"]
        c["port"] = m["port"]
        c["client_id"] = m["client_id"]
        if m["user"] is not None:
            c["user"] = m["user"]
            c["password"] = m["password"] or ""
        c["ssid"] = w["ssid"]
        c["wifi_pw"] = w["password"]
        c["keepalive"] = m["keepalive"]
        c["will"] = (will_topic, "offline", True, 0)
        c["queue_len"] = 0  # callback mode: no message queue; we never subscribe
        c["connect_coro"] = self._on_connect
        c["wifi_coro"] = self._on_link
        c["response_time"] = m["timeout_ms"] / 1000  # seconds
        c["max_repubs"] = 0  # a PUBACK timeout_ms late drops the link (then: reconnect)
        self.log = log
        self.host = m["host"]
        self.port = m["port"]
        self.backoff_max_ms = m["backoff_max_ms"]
        self.up = asyncio.Event()  # the bridge clears these two
        self.down = asyncio.Event()
        self._ready = asyncio.Event()  # ours: set while the broker link is up
        self._slot_free = asyncio.Event()
        self._turn = asyncio.Lock()  # FIFO: the status waits behind one value, not behind all of them
        # The publishes in flight: each is a task of ~700 B, so the window is
        # MAX_INFLIGHT unless the config sets one.
        self._tasks = [None] * (m["max_inflight"] or MAX_INFLIGHT)
        self._error = None  # what a publish task raised, for the next publish()
        self._forever = asyncio.Event()
        self.connects = 0
        self.published = 0
        self.pubacks = 0
        self.lost = 0

        class MQTTClient(mqtt_as.MQTTClient):
            async def _as_read(self, n, sock=None):
                # mqtt_as grows its input buffer to whatever a packet's length
                # fields claim (up to 256 MB) and keeps it. A publisher that never
                # subscribes is sent nothing longer than the buffer mqtt_as starts
                # with (CONNACK, PUBACK, PINGRESP), so a longer read is a broken or
                # hostile broker: an OSError makes mqtt_as drop the link and
                # reconnect, where a MemoryError would kill its reader task.
                if n > len(self._ibuf):
                    log("mqtt broker sent a packet of which mqtt_as would read %d bytes at once (more than %d); "
                        "dropping the connection" % (n, len(self._ibuf)))
                    raise OSError(-1, "packet too long")
                return await super()._as_read(n, sock)

            async def wifi_connect(self, quick=False):
                # mqtt_as re-joins WiFi before each reconnect and then watches it
                # for 5 s unless quick; the bridge's values must flow sooner.
                await super().wifi_connect(True)

            async def _await_pid(self, pid):
                # mqtt_as 0.8.3's loop (True: PUBACK came), every 10 ms, not 100.
                t = ticks_ms()
                while pid in self.rcv_pids:
                    if self._timeout(t) or not self.isconnected():
                        return False
                    await asyncio.sleep_ms(10)
                return True

        self._c = MQTTClient(c)

    async def _on_connect(self, client):
        self.connects += 1
        self._ready.set()
        self.down.clear()
        self.up.set()
        self.log("mqtt connected to %s:%d (mqtt_as)" % (self.host, self.port))

    async def _on_link(self, state):
        if state or not self._ready.is_set():
            return
        self._ready.clear()
        tasks = self._tasks
        for i in range(len(tasks)):
            if tasks[i] is not None:
                tasks[i].cancel()  # else mqtt_as sends it again after the reconnect
                tasks[i] = None
                self.lost += 1
        self._slot_free.set()
        self.up.clear()
        self.down.set()
        self.log("mqtt disconnected (mqtt_as reconnects)")

    def isconnected(self):
        return self._ready.is_set()

    def reconnect(self, why):
        # mqtt_as has no public call for it: _reconnect() is what its own
        # checks call on a dead link (it closes the socket and its tasks, and
        # its _keep_connected task connects again). Our _on_link hears of it.
        self.log("mqtt reconnecting (mqtt_as): " + why)
        self._c._reconnect()

    def stats(self):
        return (self.connects, self.published, self.pubacks, self.lost)

    async def publish(self, topic, msg, retain=False, qos=0):
        """Hand the message to mqtt_as in a task of its own; waits while the
        link is down or max_inflight messages are in flight. msg may be a
        function returning the message. True: handed over."""
        tasks = self._tasks
        async with self._turn:  # callers take turns, in order (asyncio.Lock hands over FIFO)
            while True:
                if self._error is not None:
                    e, self._error = self._error, None
                    raise e
                if not self._ready.is_set():
                    await self._ready.wait()
                    continue
                for i in range(len(tasks)):
                    if tasks[i] is None:
                        if callable(msg):  # the bridge's status: built now (mqtt_backend.py)
                            msg = msg()
                        tasks[i] = asyncio.create_task(self._send(i, bytes(topic), bytes(msg), retain, qos))
                        self.published += 1
                        return True
                self._slot_free.clear()
                await self._slot_free.wait()

    async def _send(self, i, topic, msg, retain, qos):
        try:
            await self._c.publish(topic, msg, retain, qos)
            # Back after the PUBACK (QoS 1) or the write (QoS 0). A drop cancels
            # this task instead (_on_link), so its slot is still its own here.
            if qos:
                self.pubacks += 1
        except Exception as e:  # noqa: BLE001 - not OSError (mqtt_as retries those): a bug, raised by publish()
            self._error = e
        self._tasks[i] = None
        self._slot_free.set()

    async def run(self):
        # Only the first connect() is ours to retry; afterwards mqtt_as keeps the
        # link up by itself (its own task), so this task just stays alive.
        delay = 1000
        while True:
            try:
                await self._c.connect(quick=True)
                break
            except OSError as e:
                self.log("mqtt connect to %s:%d failed: %s; retry in %d ms (mqtt_as)"
                         % (self.host, self.port, e, delay))
                await asyncio.sleep_ms(delay)
                delay = min(delay * 2, self.backoff_max_ms)
        await self._forever.wait()
