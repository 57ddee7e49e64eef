"""The bridge application: P1 reader -> latest snapshot -> MQTT publisher.

No hardware imports: main.py hands in the UART (any pollable stream) and an MQTT
client, so the same code runs on the ESP8266, on the virtual rig and in unit
tests. Three tasks share one Snapshot and never wait on each other:
  reader    UART bytes -> staged values, committed when the CRC matches
  publisher snapshot -> one PUBLISH per mapped value of each telegram
  online    retained "<base>/online" = "online" after every (re)connect
"""

import asyncio
import gc

import obis
import p1reader
from snapshot import Snapshot

VERSION = "0.1.0"


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


class Bridge:
    def __init__(self, client, base_topic, log=None):
        self.client = client
        self.log = log
        self.snapshot = Snapshot(obis.COUNT, p1reader.VMAX)
        self.reader = p1reader.P1Reader(self.snapshot, log)
        base = base_topic.encode() if isinstance(base_topic, str) else base_topic
        self.online_topic = base + b"/online"
        # Topic = fixed prefix + slot name, built in place: no per-publish strings.
        self._plen = len(base) + 1
        self._topic = bytearray(self._plen + max(len(n) for n in obis.NAMES))
        self._topic[:len(base)] = base
        self._topic[len(base)] = 0x2F
        self._payload = bytearray(p1reader.VMAX)
        self.passes = 0

    async def publisher(self):
        snap = self.snapshot
        names = obis.NAMES
        topic = memoryview(self._topic)
        payload = memoryview(self._payload)
        plen = self._plen
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
                    # Waits while MQTT is down; meanwhile the reader keeps
                    # overwriting the snapshot, so only the newest values go out.
                    await self.client.publish(topic[:e], payload[:n])
                s = snap.pending()  # a telegram committed while we were sending
            self.passes += 1
            gc.collect()  # between telegrams: keeps the 30 KB heap unfragmented

    async def online(self):
        c = self.client
        while True:
            await c.up.wait()
            c.up.clear()
            await c.publish(self.online_topic, b"online", retain=True)

    async def run(self, uart):
        """Run all tasks until one fails (the caller decides what then)."""
        await asyncio.gather(
            self.reader.run(uart),
            self.publisher(),
            self.online(),
            self.client.run(),
        )
