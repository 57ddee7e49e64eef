"""The bridge application: P1 reader -> latest snapshot -> MQTT publisher.

No hardware imports: main.py hands in the UART (any pollable stream) and the
config, so the same code runs on the ESP8266, on the virtual rig and in unit
tests. Four tasks share one Snapshot and never wait on each other:
  reader     UART bytes -> staged values, committed when the CRC matches
  publisher  snapshot -> one PUBLISH per new value (latest values only)
  health     at every (re)connect and every status_interval_s: retained
             "<base>/online" = "online" and "<base>/status" (JSON); after a
             reconnect the whole snapshot is republished
  client     the MQTT backend's connection task (mqtt_backend.py)
"""

import asyncio
import gc
import sys
import time

import obismap as obis  # generated from obis.TABLE; see obis.py for why

try:
    import p1reader  # the byte loop as native (viper) code
    from snapshot import Snapshot
    NATIVE = True
except MemoryError:
    # No room for native code (ESP8266 without esp.set_native_code_location()):
    # the same reader as bytecode, slower but complete.
    import p1reader_portable as p1reader
    from snapshot_portable import Snapshot
    NATIVE = False

VERSION = "0.2.0"


def make_log(stream):
    """A log function writing `bridge: <msg>\\r\\n` to stream (UART0 TX on a
    board: print() goes nowhere once the REPL is detached from UART0)."""

    def log(msg):
        stream.write(b"bridge: ")
        stream.write(msg)
        stream.write(b"\r\n")

    return log


def online_topic(base_topic):
    return base_topic + "/online"


def from_config(cfg, log, reset_cause=-1):
    """The bridge for a validated config (config.py), with its MQTT backend."""
    import mqtt_backend

    base = cfg["base_topic"]
    client = mqtt_backend.make_client(cfg, log, online_topic(base))
    del mqtt_backend
    sys.modules.pop("mqtt_backend", None)  # used once: let the GC reclaim its code
    # The buffers come next (~4 KB in a few blocks): collect the import and JSON
    # garbage first, so they land in one compact region of a fragmented heap.
    gc.collect()
    return Bridge(client, base, log, qos=cfg["mqtt"]["qos"], status_interval_s=cfg["status_interval_s"],
                  reset_cause=reset_cause, telegram_timeout_ms=cfg["telegram_timeout_ms"])


def _lit(buf, p, s):
    n = len(s)
    buf[p:p + n] = s
    return p + n


def _int(buf, p, v):
    # Decimal digits of an int into buf at p, without a temporary string.
    if v < 0:
        buf[p] = 0x2D
        p += 1
        v = -v
    e = p
    t = v
    while True:
        e += 1
        t //= 10
        if not t:
            break
    q = e
    while q > p:
        q -= 1
        buf[q] = 0x30 + v % 10
        v //= 10
    return e


# Status JSON keys after "version" and "mqtt_backend", in order (see status_json()).
STATUS_KEYS = (b"uptime_s", b"reset_cause", b"heap_free", b"heap_min_free", b"telegrams_ok",
               b"crc_errors", b"truncated", b"framing", b"garbage", b"overlong", b"bad_values",
               b"superseded", b"mqtt_connects", b"mqtt_reconnects", b"published", b"pubacks",
               b"mqtt_lost", b"wifi_reconnects")


class Bridge:
    def __init__(self, client, base_topic, log=None, qos=0, status_interval_s=60, reset_cause=-1,
                 telegram_timeout_ms=p1reader.TIMEOUT_MS):
        self.client = client
        self.log = log
        self.qos = qos
        self.status_interval_s = status_interval_s
        self.reset_cause = reset_cause
        self.wifi_reconnects = 0  # main.py's WiFi task counts here
        self.heap_min_free = gc.mem_free()
        self.snapshot = Snapshot(on_commit=self.sample_heap)
        self.reader = p1reader.P1Reader(self.snapshot, log, timeout_ms=telegram_timeout_ms)
        base = base_topic.encode() if isinstance(base_topic, str) else base_topic
        self.online_topic = base + b"/online"
        self.status_topic = base + b"/status"
        # Topic = fixed prefix + slot name, built in place: no per-publish strings.
        self._plen = len(base) + 1
        self._topic = bytearray(self._plen + max(len(n) for n in obis.NAMES))
        self._topic[:len(base)] = base
        self._topic[len(base)] = 0x2F
        self._payload = bytearray(max(obis.WIDTHS))
        self._status = bytearray(512)
        self._version = VERSION.encode()
        self._backend = client.name.encode()
        self._t_last = time.ticks_ms()
        self._up_ms = 0
        self._up_s = 0
        self.passes = 0

    # -- health ----------------------------------------------------------------------
    def sample_heap(self):
        """Track the lowest free heap (after a collection, so it measures live
        data, not garbage): called at every telegram commit and every status."""
        gc.collect()
        f = gc.mem_free()
        if f < self.heap_min_free:
            self.heap_min_free = f

    def uptime_s(self):
        # ticks_ms wraps (2**30 ms on the ESP8266): accumulate differences instead.
        now = time.ticks_ms()
        self._up_ms += time.ticks_diff(now, self._t_last)
        self._t_last = now
        self._up_s += self._up_ms // 1000
        self._up_ms %= 1000
        return self._up_s

    def status_json(self):
        """Write the status JSON into the preallocated buffer; return its length."""
        self.sample_heap()
        free = gc.mem_free()
        r = self.reader
        connects, published, pubacks, lost = self.client.stats()
        values = (self.uptime_s(), self.reset_cause, free, self.heap_min_free, r.telegrams_ok,
                  r.crc_errors, r.truncated, r.framing, r.garbage, r.overlong, r.bad_values,
                  self.snapshot.superseded, connects, connects - 1 if connects else 0, published, pubacks,
                  lost, self.wifi_reconnects)
        b = self._status
        p = _lit(b, 0, b'{"version":"')
        p = _lit(b, p, self._version)
        p = _lit(b, p, b'","mqtt_backend":"')
        p = _lit(b, p, self._backend)
        p = _lit(b, p, b'","reader":"native"' if NATIVE else b'","reader":"portable"')
        for i in range(len(STATUS_KEYS)):
            p = _lit(b, p, b',"')
            p = _lit(b, p, STATUS_KEYS[i])
            p = _lit(b, p, b'":')
            p = _int(b, p, values[i])
        b[p] = 0x7D
        return p + 1

    async def health(self):
        c = self.client
        while True:
            try:
                await asyncio.wait_for_ms(c.up.wait(), self.status_interval_s * 1000)
            except asyncio.TimeoutError:
                pass
            fresh = c.up.is_set()
            if fresh:
                c.up.clear()
            if not c.isconnected():
                continue  # the next connect sends a fresh status
            n = self.status_json()
            await c.publish(self.status_topic, memoryview(self._status)[:n], True, self.qos)
            # "online" again with every status: a stale connection's LWT, delivered
            # late by a broker that was frozen, cannot leave it at "offline".
            await c.publish(self.online_topic, b"online", True, self.qos)
            if fresh:
                # After a (re)connect: whatever was in flight was dropped, so the
                # latest values go out again (not the old packets).
                self.snapshot.touch()

    # -- values ----------------------------------------------------------------------
    async def publisher(self):
        snap = self.snapshot
        names = obis.NAMES
        topic = memoryview(self._topic)
        payload = memoryview(self._payload)
        plen = self._plen
        qos = self.qos
        while True:
            await snap.event.wait()
            snap.event.clear()
            s = snap.pending()
            while s >= 0:
                for slot in range(s, snap.nslots):
                    n = snap.take(slot, self._payload)
                    if not n:
                        continue
                    name = names[slot]
                    e = plen + len(name)
                    self._topic[plen:e] = name
                    # Waits while MQTT is down or (QoS 1) the window is full;
                    # meanwhile the reader keeps overwriting the snapshot, so only
                    # the newest values go out.
                    await self.client.publish(topic[:e], payload[:n], False, qos)
                s = snap.pending()  # a telegram committed while we were sending
            self.passes += 1
            gc.collect()  # between telegrams: keeps the 30 KB heap unfragmented

    async def run(self, uart):
        """Run all tasks until one fails (the caller decides what then)."""
        await asyncio.gather(
            self.reader.run(uart),
            self.publisher(),
            self.health(),
            self.client.run(),
        )
