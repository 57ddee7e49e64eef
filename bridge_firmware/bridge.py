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
Liveness (Bridge.liveness()) is no task of its own: main.py's watchdog task
calls it every second, and resets the board when it says so.
"""

import asyncio
import gc
import sys
import time
from array import array
from micropython import const

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
    client = mqtt_backend.make_client(cfg, log, online_topic(base), packet_max(base))
    del mqtt_backend
    sys.modules.pop("mqtt_backend", None)  # used once: let the GC reclaim its code
    # The buffers come next (~4 KB in a few blocks): collect the import and JSON
    # garbage first, so they land in one compact region of a fragmented heap.
    gc.collect()
    return Bridge(client, base, log, qos=cfg["mqtt"]["qos"], status_interval_s=cfg["status_interval_s"],
                  reset_cause=reset_cause, telegram_timeout_ms=cfg["telegram_timeout_ms"],
                  liveness_s=cfg["liveness_s"])


def _lit(buf, p, s):
    n = len(s)
    buf[p:p + n] = s  # the VM keeps this slice on the C stack: no allocation
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


# The status JSON around its fields: the three texts (version, backend,
# reader), then the counters in status_json()'s order, then liveness. Copied a
# piece at a time: a bytecode loop per character took the chip ~50 ms per status.
_STATUS = (b'{"version":"', b'","mqtt_backend":"', b'","reader":"', b'","uptime_s":', b',"reset_cause":',
           b',"heap_free":', b',"heap_min_free":', b',"telegrams_ok":', b',"crc_errors":', b',"truncated":',
           b',"framing":', b',"garbage":', b',"overlong":', b',"bad_values":', b',"superseded":',
           b',"mqtt_connects":', b',"mqtt_reconnects":', b',"published":', b',"pubacks":', b',"mqtt_lost":',
           b',"wifi_reconnects":', b',"liveness":"', b'"}')
_NTEXTS = const(3)
_NCOUNTERS = const(18)
_YIELD_MS = const(20)  # the publisher's longest turn: 230 bytes at 115200 baud, a quarter of the UART ring
_RX_WAITING = const(128)  # bytes in the UART ring that end the publisher's turn at once: the reader's chunk
_RX_WAIT_MS = const(5)  # how often the status looks again whether the reader has emptied the ring
# What "liveness" says, by the stall the last check found (0: none). A const:
# no module global for it.
_LIVE = const((b"ok", b"no telegram", b"no publish"))
_NO_TELEGRAM = const(1)
_NO_PUBLISH = const(2)
_LIVE_MAX = const(11)  # the longest of _LIVE
# The liveness state sits behind the status counters in their array: one
# allocation for both (16 B more than the counters alone, where six
# attributes would cost 48 B or grow the instance's dict).
_LIVE_MS = const(_NCOUNTERS)  # liveness_s in ms; 0: off
_STALLED = const(_NCOUNTERS + 1)  # the stall that made the bridge reconnect, until progress clears it
_TELS = const(_NCOUNTERS + 2)  # reader.telegrams_ok as last seen
_TELS_AT = const(_NCOUNTERS + 3)  # ... and since when (ticks_ms)
_PUBS = const(_NCOUNTERS + 4)  # the client's published count as last seen
_PUBS_AT = const(_NCOUNTERS + 5)  # ... and since when values wait for it to move
_COLLECTED = const(_NCOUNTERS + 6)  # 1: sample_heap() has collected since the last status
_HEALTH_TICK_MS = const(200)  # how soon after a (re)connect the status goes out
_NAME_MAX = const(48)  # no topic name in obis.TABLE is longer (Bridge() checks)
_INT_MAX = const(11)  # "-1073741824": the longest small int as text
_TEXT_MAX = const(24)  # version, backend and reader names together stay below this


def status_max():
    """The longest status JSON status_json() can write."""
    return sum(len(piece) for piece in _STATUS) + _NCOUNTERS * _INT_MAX + _TEXT_MAX + _LIVE_MAX


def packet_max(base_topic):
    """The MQTT client's packet buffer: the longest value PUBLISH (QoS 1) the
    bridge sends. The status JSON is longer: the client writes it from the
    bridge's own buffer after the packet head (mqtt_min.MQTTClient.publish)."""
    return 5 + 2 + len(base_topic) + 1 + _NAME_MAX + 2 + obis.PROFILE_MAX


class Bridge:
    def __init__(self, client, base_topic, log=None, qos=0, status_interval_s=60, reset_cause=-1,
                 telegram_timeout_ms=p1reader.TIMEOUT_MS, liveness_s=0):
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
        # Slot s's name is obis.NAMES[_name_at[s]:_name_at[s + 1] - 1] (newline-ended).
        at = array("H", [0])
        longest = 0
        for i in range(len(obis.NAMES)):
            if obis.NAMES[i] == 0x0A:
                longest = max(longest, i - at[-1])
                at.append(i + 1)
        self._name_at = at
        self._plen = len(base) + 1
        if longest > _NAME_MAX:
            raise ValueError("a topic name is longer than _NAME_MAX")
        self._topic = bytearray(self._plen + longest)
        self._topic[:len(base)] = base
        self._topic[len(base)] = 0x2F
        self._payload = bytearray(max(obis.WIDTHS))
        self._status = bytearray(status_max())
        self._status_mv = memoryview(self._status)
        self._status_now = self.status_message  # bound once: health passes it at every status
        v = self._counters = array("i", bytes(4 * (_COLLECTED + 1)))
        v[_LIVE_MS] = liveness_s * 1000
        v[2] = self.heap_min_free  # heap_free until the first collection
        v[_TELS_AT] = v[_PUBS_AT] = time.ticks_ms()
        self._texts = (VERSION.encode(), client.name.encode(), b"native" if NATIVE else b"portable")
        if sum(len(t) for t in self._texts) > _TEXT_MAX:
            raise ValueError("status texts longer than _TEXT_MAX")
        self._t_last = time.ticks_ms()
        self._up_ms = 0
        self._up_s = 0
        self.passes = 0

    # -- health ----------------------------------------------------------------------
    def sample_heap(self):
        """Track the lowest free heap (after a collection, so it measures live
        data, not garbage): called at every telegram commit and every status.
        The commit's collection is the bridge's one per telegram: it comes in
        the reader's turn, right after the reader emptied the UART ring."""
        gc.collect()
        f = gc.mem_free()
        v = self._counters
        v[2] = f  # the status's heap_free
        v[_COLLECTED] = 1
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
        """Write the status JSON into the preallocated buffer; return its length.
        Allocates nothing: the counters go through a preallocated array."""
        v = self._counters
        v[_COLLECTED] = 0  # heap_free: as the last collection left it (health() makes one if need be)
        r = self.reader
        st = self.client.stats()  # (connects, published, pubacks, lost)
        v[0] = self.uptime_s()
        v[1] = self.reset_cause
        v[3] = self.heap_min_free
        v[4] = r.telegrams_ok
        v[5] = r.crc_errors
        v[6] = r.truncated
        v[7] = r.framing
        v[8] = r.garbage
        v[9] = r.overlong
        v[10] = r.bad_values
        v[11] = self.snapshot.superseded
        v[12] = st[0]
        v[13] = st[0] - 1 if st[0] else 0
        v[14] = st[1]
        v[15] = st[2]
        v[16] = st[3]
        v[17] = self.wifi_reconnects
        b = self._status
        t = _STATUS
        p = 0
        for j in range(_NTEXTS):
            p = _lit(b, p, t[j])
            p = _lit(b, p, self._texts[j])
        for k in range(_NCOUNTERS):
            p = _lit(b, p, t[_NTEXTS + k])
            p = _int(b, p, v[k])
        p = _lit(b, p, t[_NTEXTS + _NCOUNTERS])
        p = _lit(b, p, _LIVE[v[_STALLED]])
        return _lit(b, p, t[_NTEXTS + _NCOUNTERS + 1])

    def status_message(self):
        """The status JSON as of now: a view of the preallocated buffer."""
        return self._status_mv[:self.status_json()]

    async def health(self, line=None):
        """Publish the status every status_interval_s and after every
        (re)connect. line: the reader's stream, as for publisher()."""
        c = self.client
        waiting = getattr(line, "any", None)
        t0 = time.ticks_ms()
        while True:
            # Polled, not wait_for_ms(c.up.wait(), interval): wait_for holds a task,
            # a closure and its cells while it waits, ~450 B of heap all the time.
            while not c.up.is_set() and time.ticks_diff(time.ticks_ms(), t0) < self.status_interval_s * 1000:
                await asyncio.sleep_ms(_HEALTH_TICK_MS)
            t0 = time.ticks_ms()
            fresh = c.up.is_set()
            if fresh:
                c.up.clear()
            if not c.isconnected():
                continue  # the next connect sends a fresh status
            # The status's JSON costs the chip ~20 ms at 160 MHz and a
            # collection ~30 ms more; the UART ring lasts 89 ms, and the reader's
            # turn with a telegram's commit (and its collection) takes ~45: each
            # waits until the reader has emptied the ring, in a turn of its own.
            # With telegrams coming, their commits have collected already.
            if not self._counters[_COLLECTED]:
                while waiting is not None and waiting() >= _RX_WAITING:
                    await asyncio.sleep_ms(_RX_WAIT_MS)
                self.sample_heap()
                await asyncio.sleep_ms(0)
            while waiting is not None and waiting() >= _RX_WAITING:
                await asyncio.sleep_ms(_RX_WAIT_MS)
            # Built when it can go out (a function, not bytes): a status that
            # waited for a stalled broker would otherwise tell of the past.
            await c.publish(self.status_topic, self._status_now, True, self.qos)
            # "online" again with every status: a stale connection's LWT, delivered
            # late by a broker that was frozen, cannot leave it at "offline".
            await c.publish(self.online_topic, b"online", True, self.qos)
            if fresh:
                # After a (re)connect: whatever was in flight was dropped, so the
                # latest values go out again (not the old packets).
                self.snapshot.touch()

    def liveness(self):
        """Check that the bridge gets somewhere, not only that its event loop
        turns (which is all the watchdog proves); call it every second or so.

        A stall is liveness_s without a telegram committed, or liveness_s with
        values waiting while the broker link is up and the client's published
        count does not move. The first one makes the MQTT client reconnect: the
        status that goes out at the reconnect says "liveness":"no telegram" (or
        "no publish"), and so does every status until that progress is seen. A
        second one, another liveness_s later with no progress between, returns
        True: the caller resets the board (bridge.py has no hardware). So a
        bridge whose meter is unplugged resets at most once per 2 x liveness_s."""
        v = self._counters
        ms = v[_LIVE_MS]
        if not ms:
            return False
        now = time.ticks_ms()
        n = self.reader.telegrams_ok
        if n != v[_TELS]:
            v[_TELS] = n
            v[_TELS_AT] = now
            if v[_STALLED] == _NO_TELEGRAM:
                v[_STALLED] = 0
        c = self.client
        n = c.stats()[1]
        if n != v[_PUBS]:
            v[_PUBS] = n
            v[_PUBS_AT] = now
            if v[_STALLED] == _NO_PUBLISH:
                v[_STALLED] = 0
        elif not c.isconnected() or self.snapshot.pending(0) < 0:
            v[_PUBS_AT] = now  # nothing waits, or the broker is away: no fault of the bridge's
        if time.ticks_diff(now, v[_TELS_AT]) >= ms:
            why = _NO_TELEGRAM
        elif time.ticks_diff(now, v[_PUBS_AT]) >= ms:
            why = _NO_PUBLISH
        else:
            return False
        again = v[_STALLED]
        v[_STALLED] = why
        v[_TELS_AT] = v[_PUBS_AT] = now  # the next step comes another liveness_s later
        msg = "liveness: %s for %d s" % ("no telegram" if why == _NO_TELEGRAM else "no publish", ms // 1000)
        if self.log is not None:
            self.log(msg + ("; resetting the board" if again else "; reconnecting MQTT"))
        if again:
            return True
        c.reconnect(msg)
        return False

    # -- values ----------------------------------------------------------------------
    async def publisher(self, line=None):
        """Publish the snapshot's pending values. line: the reader's stream;
        while bytes wait in it (a UART's any(), the driver's C: a few us on the
        chip) the publisher lets the reader in. A stream without any() (a
        socket) gets turns of _YIELD_MS only."""
        snap = self.snapshot
        waiting = getattr(line, "any", None)
        names = memoryview(obis.NAMES)
        at = self._name_at
        tbuf = self._topic
        topic = memoryview(tbuf)
        payload = memoryview(self._payload)
        plen = self._plen
        qos = self.qos
        publish = self.client.publish
        while True:
            await snap.event.wait()
            snap.event.clear()
            slot = snap.pending(0)
            turn = time.ticks_ms()
            while slot >= 0:
                n = snap.take(slot, self._payload)
                a = at[slot]
                b = at[slot + 1] - 1
                e = plen + b - a
                tbuf[plen:e] = names[a:b]
                # Waits while MQTT is down or (QoS 1) the window is full;
                # meanwhile the reader keeps overwriting the snapshot, so only
                # the newest values go out.
                await publish(topic[:e], payload[:n], False, qos)
                if (time.ticks_diff(time.ticks_ms(), turn) > _YIELD_MS
                        or waiting is not None and waiting() >= _RX_WAITING):
                    # A publish that needs no PUBACK wait never yields: at the
                    # chip's speed a telegram's values take ~250 ms, while the
                    # next telegram fills the 1 KB UART ring in ~90 ms, and a
                    # round of the other tasks takes the chip 50-100 ms under
                    # load. So the reader comes first whenever bytes wait;
                    # between telegrams nothing waits and the values go out in
                    # turns of _YIELD_MS.
                    await asyncio.sleep_ms(0)
                    turn = time.ticks_ms()
                slot = snap.pending(slot + 1)
                if slot < 0:
                    slot = snap.pending(0)  # a telegram committed while we were sending
            self.passes += 1
            # No collection here: the commit's (sample_heap) keeps the heap
            # unfragmented once per telegram, in the reader's turn. A second
            # one here cost the chip ~30 ms more per telegram, in a turn of
            # its own, while the next telegram filled the UART ring.

    async def run(self, uart, *more):
        """Run all tasks, and the caller's `more` coroutines beside them, until one
        fails (the caller decides what then). One gather for all: each costs heap."""
        await asyncio.gather(self.reader.run(uart), self.publisher(uart), self.health(uart), self.client.run(), *more)
