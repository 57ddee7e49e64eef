"""Latest-values snapshot between the UART reader and the MQTT publisher.

One fixed slot per mapped name, two copies: `staged` (the telegram being read)
and `latest` (values of the last telegram whose CRC matched). The reader stages
and commits; the publisher takes dirty slots. A newer telegram simply overwrites
values not yet published (the queue can never grow), and that is counted, so a
broker stall costs old values, never memory or UART bytes.
"""

from micropython import const

import asyncio

_NONE = const(255)  # staged length meaning "not in this telegram"


class Snapshot:
    def __init__(self, nslots, vmax):
        self.nslots = nslots
        self.vmax = vmax
        self._stage = bytearray(nslots * vmax)
        self._slen = bytearray(nslots)
        self._val = bytearray(nslots * vmax)
        self._vlen = bytearray(nslots)
        self._dirty = bytearray(nslots)
        self.event = asyncio.Event()  # set on every commit; the publisher waits on it
        self.commits = 0
        self.superseded = 0  # commits that overwrote values not yet published
        self.begin()

    # -- reader side (sink protocol of p1reader.P1Reader) -------------------------
    def begin(self):
        sl = self._slen
        for i in range(self.nslots):
            sl[i] = _NONE

    def stage(self, slot, buf, n):
        if n > self.vmax:  # the reader never does this; a wrong length must not spill
            return
        st = self._stage
        o = slot * self.vmax
        for i in range(n):
            st[o + i] = buf[i]
        self._slen[slot] = n

    def abort(self):
        self.begin()

    def commit(self):
        """Make the staged values the latest ones. Returns how many there were."""
        # Separate assignments: a tuple unpack would allocate a tuple per commit.
        sl = self._slen
        vl = self._vlen
        d = self._dirty
        st = self._stage
        v = self._val
        vmax = self.vmax
        count = 0
        lost = False
        for s in range(self.nslots):
            n = sl[s]
            if n == _NONE:
                continue
            if d[s]:
                lost = True
            o = s * vmax
            for i in range(o, o + n):
                v[i] = st[i]
            vl[s] = n
            d[s] = 1
            count += 1
        if lost:
            self.superseded += 1
        self.commits += 1
        self.begin()
        if count:
            self.event.set()
        return count

    # -- publisher side ------------------------------------------------------------
    def pending(self):
        """Index of the first slot with an unpublished value, or -1."""
        d = self._dirty
        for s in range(self.nslots):
            if d[s]:
                return s
        return -1

    def take(self, slot, out):
        """Copy the slot's value into out and mark it published; return its length
        (0 when there is nothing new). Copying lets the publisher await the network
        while the reader commits newer values into the slot."""
        if not self._dirty[slot]:
            return 0
        n = self._vlen[slot]
        o = slot * self.vmax
        v = self._val
        for i in range(n):
            out[i] = v[o + i]
        self._dirty[slot] = 0
        return n

    def value(self, slot):
        """The latest value of a slot as bytes, or None (diagnostics and tests)."""
        n = self._vlen[slot]
        if n == 0:
            return None
        o = slot * self.vmax
        return bytes(self._val[o:o + n])
