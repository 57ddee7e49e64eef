"""Latest-values snapshot between the UART reader and the MQTT publisher.

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
import micropython

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
    # begin/stage and commit's copy run once per value or telegram: viper code (no
    # bytecode loop per byte, no heap frame per call). The module is precompiled
    # per architecture (mpy-cross -march=..., see hil/rig/firmware.py).
    @micropython.viper
    def begin(self):
        sl = ptr16(self._slen)
        n = int(self.nslots)
        i = 0
        while i < n:
            sl[i] = _NONE
            i += 1

    @micropython.viper
    def stage(self, slot: int, buf, n: int):
        if slot < 0 or slot >= int(self.nslots):
            raise IndexError
        off = ptr16(self._off)
        o = off[slot]
        if n > off[slot + 1] - o:  # the reader never does this; never spill
            self.dropped = int(self.dropped) + 1
            return
        st = ptr8(self._stage)
        src = ptr8(buf)
        i = 0
        while i < n:
            st[o + i] = src[i]
            i += 1
        ptr16(self._slen)[slot] = n

    def abort(self):
        self.begin()

    def commit(self):
        """Make the staged values the latest ones. Returns how many there were."""
        r = self._move()
        count = r >> 1
        if r & 1:
            self.superseded += 1
        self.commits += 1
        if count:
            self.event.set()
        if self.on_commit is not None:
            self.on_commit()
        return count

    @micropython.viper
    def _move(self) -> int:
        # Copy every staged value to latest: (values moved) << 1 | (one was unsent).
        sl = ptr16(self._slen)
        vl = ptr16(self._vlen)
        d = ptr8(self._dirty)
        h = ptr8(self._has)
        st = ptr8(self._stage)
        v = ptr8(self._val)
        off = ptr16(self._off)
        count = 0
        lost = 0
        ns = int(self.nslots)
        s = 0
        while s < ns:
            n = sl[s]
            if n != _NONE:
                if d[s]:
                    lost = 1
                o = off[s]
                i = o
                while i < o + n:
                    v[i] = st[i]
                    i += 1
                vl[s] = n
                d[s] = 1
                h[s] = 1
                sl[s] = _NONE
                count += 1
            s += 1
        return (count << 1) | lost

    # -- publisher side ------------------------------------------------------------
    @micropython.viper
    def pending(self, start: int) -> int:
        """Index of the first slot at or after start with an unpublished value,
        or -1."""
        d = ptr8(self._dirty)
        n = int(self.nslots)
        s = start
        while s < n:
            if d[s]:
                return s
            s += 1
        return -1

    @micropython.viper
    def take(self, slot: int, out) -> int:
        """Copy the slot's value into out and mark it published; return its length
        (0 when there is nothing new). Copying lets the publisher await the network
        while the reader commits newer values into the slot."""
        if slot < 0 or slot >= int(self.nslots):
            raise IndexError
        d = ptr8(self._dirty)
        if not d[slot]:
            return 0
        n = int(ptr16(self._vlen)[slot])
        o = int(ptr16(self._off)[slot])
        v = ptr8(self._val)
        dst = ptr8(out)
        i = 0
        while i < n:
            dst[i] = v[o + i]
            i += 1
        d[slot] = 0
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
