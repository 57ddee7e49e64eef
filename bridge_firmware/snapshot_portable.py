"""Latest-values snapshot, portable bytecode: the fallback of snapshot.py (see
p1reader_portable.py for when it is used).

One fixed slot per topic name, two copies: `staged` (the telegram being read)
and `latest` (values of the last telegram whose CRC matched). The reader stages
and commits; the publisher takes dirty slots. A newer telegram simply overwrites
values not yet published (the queue can never grow), and that is counted, so a
broker stall costs old values, never memory or UART bytes.

Slot widths come from obis.py (a number takes 16 bytes, the billing profile 256),
so all buffers are allocated once here, at start-up.
"""

from array import array
from micropython import const

import asyncio

import obismap as obis  # generated from obis.TABLE; see obis.py for why

_NONE = const(0xFFFF)  # staged length meaning "not in this telegram"


class Snapshot:
    def __init__(self, nslots=None, vmax=None, on_commit=None):
        """Snapshot() sizes every slot for its kind in obis.TABLE. The older form
        Snapshot(nslots, vmax) gives nslots slots of vmax bytes each."""
        if nslots is None:
            nslots = obis.COUNT
        off = array("H", [0] * (nslots + 1))  # slot s lives in [off[s], off[s+1])
        for s in range(nslots):
            w = vmax if vmax is not None else obis.WIDTHS[obis.KIND[s]]
            off[s + 1] = off[s] + w
        self.nslots = nslots
        self._off = off
        self.vmax = vmax if vmax is not None else max(obis.WIDTHS)  # widest slot
        self._stage = bytearray(off[nslots])
        self._slen = array("H", [_NONE] * nslots)
        self._val = bytearray(off[nslots])
        self._vlen = array("H", [0] * nslots)
        self._dirty = bytearray(nslots)
        self._has = bytearray(nslots)  # slot holds a committed value
        self.on_commit = on_commit  # called after every commit (heap sampling)
        self.event = asyncio.Event()  # set on every commit; the publisher waits on it
        self.commits = 0
        self.superseded = 0  # commits that overwrote values not yet published
        self.dropped = 0  # stage() calls whose value did not fit its slot (a bug if > 0)

    def width(self, slot):
        return self._off[slot + 1] - self._off[slot]

    # -- reader side (sink protocol of p1reader.P1Reader) -------------------------
    def begin(self):
        sl = self._slen
        for i in range(self.nslots):
            sl[i] = _NONE

    def stage(self, slot, buf, n):
        o = self._off[slot]
        if n > self._off[slot + 1] - o:  # the reader never does this; never spill
            self.dropped += 1
            return
        st = self._stage
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
        off = self._off
        count = 0
        lost = False
        for s in range(self.nslots):
            n = sl[s]
            if n == _NONE:
                continue
            if d[s]:
                lost = True
            o = off[s]
            for i in range(o, o + n):
                v[i] = st[i]
            vl[s] = n
            d[s] = 1
            self._has[s] = 1
            sl[s] = _NONE
            count += 1
        if lost:
            self.superseded += 1
        self.commits += 1
        if count:
            self.event.set()
        if self.on_commit is not None:
            self.on_commit()
        return count

    # -- publisher side ------------------------------------------------------------
    def pending(self, start):
        """Index of the first slot at or after start with an unpublished value,
        or -1."""
        d = self._dirty
        for s in range(start, self.nslots):
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
        o = self._off[slot]
        out[:n] = memoryview(self._val)[o:o + n]  # one view, not a bytecode loop per byte
        self._dirty[slot] = 0
        return n

    def touch(self):
        """Mark every slot holding a value unpublished again (after a reconnect:
        the latest values are republished instead of retransmitting old packets).
        Returns how many slots that is."""
        d = self._dirty
        h = self._has
        count = 0
        for s in range(self.nslots):
            if h[s]:
                d[s] = 1
                count += 1
        if count:
            self.event.set()
        return count

    def value(self, slot):
        """The latest value of a slot as bytes, or None (diagnostics and tests)."""
        if not self._has[slot]:
            return None
        o = self._off[slot]
        return bytes(self._val[o:o + self._vlen[slot]])
