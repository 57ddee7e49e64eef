"""TEST FIXTURE, not firmware: the seed bridge's design, for the suite to catch.

A drop-in for bridge_firmware/snapshot.py that queues every value of every
valid telegram and publishes them in order: nothing is ever superseded, so a
broker that stops acknowledging makes the queue (and the heap) grow without
bound. hil/tests/test_variants.py assembles a bridge with this module and
expects the overflow scenarios to fail on it.
"""

import asyncio

import obismap as obis


class Snapshot:
    def __init__(self, nslots=None, vmax=None, on_commit=None):
        self.nslots = obis.COUNT if nslots is None else nslots
        self.vmax = vmax if vmax is not None else max(obis.WIDTHS)
        self._staged = []
        self._queue = []  # (slot, value): grows with every telegram not yet sent
        self.on_commit = on_commit
        self.event = asyncio.Event()
        self.commits = 0
        self.superseded = 0
        self.dropped = 0

    def width(self, slot):
        return self.vmax

    def begin(self):
        self._staged = []

    def stage(self, slot, buf, n):
        self._staged.append((slot, bytes(buf[:n])))

    def abort(self):
        self._staged = []

    def commit(self):
        count = len(self._staged)
        self._queue.extend(self._staged)
        self._staged = []
        self.commits += 1
        if count:
            self.event.set()
        if self.on_commit is not None:
            self.on_commit()
        return count

    def pending(self):
        return self._queue[0][0] if self._queue else -1

    def take(self, slot, out):
        if not self._queue or self._queue[0][0] != slot:
            return 0
        _, value = self._queue.pop(0)
        out[:len(value)] = value
        return len(value)

    def touch(self):
        return 0

    def value(self, slot):
        for s, v in reversed(self._queue):
            if s == slot:
                return v
        return None
