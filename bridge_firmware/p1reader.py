"""Streaming P1 (DSMR) telegram reader: bytes in, CRC-checked values out.

The reader never holds a telegram or a line. It walks the byte stream once,
updating the CRC16 per byte, packing the OBIS code into an int and copying only
the value of a mapped line into one small fixed buffer (see obis.py for what
each kind keeps). Values go to a sink (see snapshot.Snapshot) that keeps them
staged until the telegram's CRC matches. Nothing here allocates per byte, so the
1 KB 0xFF consumer-message line of the SX631 costs no heap and is never decoded
(bytes.decode would raise on it).

Sink protocol: begin(), stage(slot, buf, n), commit() -> number of values, abort().
"""

from array import array
from micropython import const
import micropython
import time

import obismap as obis  # generated from obis.TABLE; see obis.py for why

VMAX = const(16)  # longest number text kept (obis.NUMBER_MAX)
TELEGRAM_MAX = const(16384)  # bytes from '/' to '!': beyond that it is not a telegram
TIMEOUT_MS = const(1000)  # default: silence inside a telegram longer than this truncates it
_BUSY_MS = const(10)  # run(): poll period inside a telegram: 115 B at 115200 baud
# run(): the longest the reader reads before it lets the other tasks in. A
# turn that ends a telegram holds its commit and the bridge's heap sample (a
# collection), ~35-45 ms at 160 MHz; the drain must go on after it, or the
# bytes that came meanwhile (~500) wait a whole round of the other tasks, which
# can take as long again: so a turn that committed gets _TURN_MS once more.
_TURN_MS = const(50)

_S_HUNT = const(0)  # between telegrams: waiting for '/'
_S_HEADER = const(1)  # the /XXX5 identification line
_S_LINE = const(2)  # at the start of a line
_S_OBIS = const(3)  # in A-B:C.D.E
_S_SKIP = const(4)  # rest of the line is not ours; still CRC'd
_S_CRC = const(5)  # after '!': 1-4 hex digits (a meter may not zero-pad), then CR LF
# Value states: a line ending in one of these ends an unfinished value.
_S_VALUE = const(6)  # inside the first (...) of a number/text/breaker line
_S_PTS = const(7)  # profile: inside the first (...), the timestamp
_S_PGAP = const(8)  # profile: after a ')', expecting '(' or the end of the line
_S_PNUM = const(9)  # profile: a number inside (...)
_S_PUNIT = const(10)  # profile: the unit after '*', up to ')'

_LF = const(10)
_CR = const(13)
_SLASH = const(0x2F)
_BANG = const(0x21)
_LPAR = const(0x28)
_RPAR = const(0x29)
_STAR = const(0x2A)
_DOT = const(0x2E)
_MINUS = const(0x2D)
_ZERO = const(0x30)
_NINE = const(0x39)

_K_NUMBER = const(0)  # obis.K_NUMBER
_K_TEXT = const(1)  # obis.K_TEXT
_K_BREAKER = const(2)  # obis.K_BREAKER
_K_PROFILE = const(3)  # obis.K_PROFILE

# What the byte loop writes into values besides the meter's bytes, in one
# bytearray in RAM: in a frozen image a bytes constant stays in flash, where the
# ESP8266 faults on the byte loads viper code makes. _L_* = offset << 8 | length.
_LITS = bytearray(b'{"timestamp":"' b'","values":[' b"]}" b"OFF" b"ON" b"READY")
_L_HEAD = const(14)  # {"timestamp":"
_L_MID = const(14 << 8 | 12)  # ","values":[
_L_TAIL = const(26 << 8 | 2)  # ]}
_L_OFF = const(28 << 8 | 3)  # breaker 0
_L_ON = const(31 << 8 | 2)  # breaker 1
_L_READY = const(33 << 8 | 5)  # breaker 2


def _mktable():
    # CRC16/ARC (poly 0x8005 reflected = 0xA001, init 0), four bits per lookup:
    # two lookups a byte instead of 8 shift/xor steps, and a 16-entry table
    # (48 B of heap) instead of the usual 256 entries (528 B).
    t = array("H")
    for i in range(16):
        c = i
        for _ in range(4):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t.append(c)
    return t


_TAB = _mktable()

# -- native code ----------------------------------------------------------------------
# The per-byte work is @micropython.viper code: machine code working on machine
# ints and raw buffer pointers (ptr8/ptr16/ptr32), ~50x faster than bytecode, and a
# viper call takes no heap for its frame. Written for 32-bit ints (ESP8266, xtensa):
# every value kept here fits 28 bits, so boxing one into an object never allocates.
# A module with viper code is precompiled per architecture: mpy-cross -march=xtensa
# for the ESP8266, -march=x64 for the unix port (see hil/rig/firmware.py).


@micropython.viper
def _crc(data, n: int, crc: int) -> int:
    p = ptr8(data)
    t = ptr16(_TAB)
    i = 0
    while i < n:
        b = p[i]
        crc = (crc >> 4) ^ t[(crc ^ b) & 0xF]
        crc = (crc >> 4) ^ t[(crc ^ (b >> 4)) & 0xF]
        i += 1
    return crc


def crc16(data, crc=0):
    """CRC16/ARC of data (bytes, bytearray, memoryview), continuing from crc."""
    return _crc(data, len(data), crc)


@micropython.viper
def _norm(buf, n: int, start: int) -> int:
    # See normalise(); the same in machine code, no allocation.
    v = ptr8(buf)
    if n <= start:
        return -1
    s = start
    if v[start] == _MINUS:
        s = start + 1
    dots = 0
    digits = 0
    i = s
    while i < n:
        c = v[i]
        if c == _DOT:
            dots += 1
        elif _ZERO <= c and c <= _NINE:
            digits += 1
        else:
            return -1
        i += 1
    if digits == 0 or dots > 1:
        return -1
    j = s
    while j < n - 1 and v[j] == _ZERO and _ZERO <= v[j + 1] and v[j + 1] <= _NINE:
        j += 1
    if j > s:
        k = s
        while j < n:
            v[k] = v[j]
            k += 1
            j += 1
        n = k
    return n


def normalise(buf, n, start=0):
    """Normalise the number in buf[start:n] in place; return its new end, or -1.

    Drops leading zeros but keeps one digit before the point ("000812.421" ->
    "812.421", "003" -> "3", "00.250" -> "0.250", "-0.5" stays). Only digits, one
    point and a leading minus are valid: anything else (a timestamp, "ON") is -1.
    With start=0 the result is the new length. The text is kept as text:
    ESP8266 floats have ~7 significant digits.
    """
    return _norm(buf, n, start)


@micropython.viper
def _put(buf, vlen: int, vcap: int, lit: int) -> int:
    # Append the literal lit (an _L_* of _LITS) to buf[0:vlen]; the new length,
    # or -1 if it would pass vcap.
    n = lit & 0xFF
    if vlen + n > vcap:
        return -1
    v = ptr8(buf)
    s = ptr8(_LITS)
    o = lit >> 8
    i = 0
    while i < n:
        v[vlen + i] = s[o + i]
        i += 1
    return vlen + n


# Indexes into P1Reader._w, the reader's state as machine ints between feeds.
_W_ST = const(0)
_W_CRC = const(1)
_W_LEN = const(2)
_W_NF = const(3)  # OBIS fields completed
_W_NUM = const(4)  # current OBIS field
_W_ACC = const(5)  # packed OBIS so far
_W_SLOT = const(6)
_W_KIND = const(7)
_W_VLEN = const(8)
_W_VCAP = const(9)
_W_VSTART = const(10)  # profile: where the current number starts in _val
_W_GOT = const(11)  # CRC received
_W_NDIG = const(12)  # CRC digits received
_W_NKEYS = const(13)  # the packed codes follow the state, read-only:
_W_KSLOT = const(14)  # _w[_W_SIZE:+nkeys], sorted (binary search); _t8[i] the slot of
_W_KINDS = const(15)  # code i; _t8[_w[_W_KINDS]+slot] a slot's kind; _w[_w[_W_WIDTHS]+kind]
_W_WIDTHS = const(16)  # a kind's buffer width (bytes where they fit: 250 B less heap)
_W_SIZE = const(17)


class P1Reader:
    """Feed it bytes (feed) or a stream (run); it drives a sink and counts.

    Counters (ints, read them any time; counters() gives them as a dict):
      telegrams_ok  CRC matched, values committed
      crc_errors    complete telegram, CRC mismatch: nothing committed
      truncated     a telegram that never reached its CRC line: a new '/' came
                    first, or the line was silent for timeout_ms inside it
      framing       malformed CRC line, or a telegram longer than TELEGRAM_MAX
      garbage       bytes outside any telegram (CR/LF between telegrams excluded)
      overlong      mapped lines whose value did not fit its buffer (not published)
      bad_values    mapped lines whose value is not valid for its kind (not published)
    """

    def __init__(self, sink, log=None, chunk=128, timeout_ms=TIMEOUT_MS):
        self.sink = sink
        self.log = log
        self.timeout_ms = timeout_ms
        self._buf = bytearray(chunk)
        self._val = bytearray(obis.PROFILE_MAX)  # the widest kind
        # State and lookup tables in one array of machine ints (one pointer for _scan).
        nkeys = len(obis.KSLOT)
        w = array("i", bytes(4 * _W_SIZE))  # all _S_HUNT / 0
        w[_W_NKEYS] = nkeys
        w[_W_KSLOT] = 0
        w[_W_KINDS] = nkeys
        w[_W_WIDTHS] = _W_SIZE + nkeys
        w.extend(array("i", obis.KEYS))  # raw little-endian int32s, as obismap stores them
        w.extend(array("i", obis.WIDTHS))
        self._w = w
        # A copy in RAM: viper's byte loads must not read a frozen constant in flash.
        self._t8 = bytearray(obis.KSLOT + obis.KIND)
        del w
        self._stage = sink.stage  # bound once: _scan calls it per value
        self.telegrams_ok = 0
        self.crc_errors = 0
        self.truncated = 0
        self.framing = 0
        self.garbage = 0
        self.overlong = 0
        self.bad_values = 0
        self._last_rx = time.ticks_ms()

    def counters(self):
        return {
            "telegrams_ok": self.telegrams_ok,
            "crc_errors": self.crc_errors,
            "truncated": self.truncated,
            "framing": self.framing,
            "garbage": self.garbage,
            "overlong": self.overlong,
            "bad_values": self.bad_values,
        }

    def in_telegram(self):
        return self._w[_W_ST] != _S_HUNT

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    # -- once per telegram or error: bytecode, called from _scan ----------------------
    def _start(self, cut):
        # A '/' only ever starts a telegram: resync here whatever came before.
        if cut:
            self.truncated += 1
            self.sink.abort()
            self._say("truncated telegram")
        self.sink.begin()

    def _end_telegram(self, got, crc):
        if got == crc:
            self.telegrams_ok += 1
            n = self.sink.commit()
            if self.log is not None:  # format only when someone reads it
                self.log("telegram ok crc=%04X values=%d" % (crc, n))
        else:
            self.crc_errors += 1
            self.sink.abort()
            if self.log is not None:
                self.log("crc error got=%04X want=%04X" % (got, crc))

    def _framing(self, msg):
        self.framing += 1
        self.sink.abort()
        self._say(msg)

    def expire(self):
        """The line went silent: a telegram in progress is truncated (counted,
        staged values dropped) and the reader hunts for the next '/'."""
        if self._w[_W_ST] != _S_HUNT:
            self._w[_W_ST] = _S_HUNT
            self.truncated += 1
            self.sink.abort()
            if self.log is not None:
                self.log("truncated telegram: line silent for %d ms" % self.timeout_ms)

    # -- the byte loop -------------------------------------------------------------
    def feed(self, buf, n=-1):
        """Process buf[0:n] (all of buf if n < 0). Allocates nothing."""
        self._scan(buf, n)

    @micropython.viper
    def _scan(self, buf, n: int):
        if n < 0:
            n = int(len(buf))
        p = ptr8(buf)
        tab = ptr16(_TAB)
        w = ptr32(self._w)
        t8 = ptr8(self._t8)
        val = self._val
        v = ptr8(val)
        stage = self._stage
        st = w[_W_ST]
        crc = w[_W_CRC]
        ln = w[_W_LEN]
        vlen = w[_W_VLEN]
        vcap = w[_W_VCAP]
        garbage = 0
        i = 0
        while i < n:
            b = p[i]
            i += 1
            if b == _SLASH:
                w[_W_ST] = st  # _start may raise (a sink's error): leave a sane state
                self._start(st != _S_HUNT)
                crc = tab[b & 0xF]  # crc16 of b"/" from init 0 (the first nibble step from 0)
                crc = (crc >> 4) ^ tab[(crc ^ (b >> 4)) & 0xF]
                ln = 1
                st = _S_HEADER
                continue
            if st == _S_HUNT:
                if b != _CR and b != _LF:
                    garbage += 1
                continue
            if st == _S_CRC:
                h = -1
                if _ZERO <= b and b <= _NINE:
                    h = b - _ZERO
                elif 0x41 <= b and b <= 0x46:
                    h = b - 0x37
                elif 0x61 <= b and b <= 0x66:
                    h = b - 0x57
                nd = w[_W_NDIG]
                if h >= 0 and nd < 4:
                    w[_W_GOT] = (w[_W_GOT] << 4) | h
                    w[_W_NDIG] = nd + 1
                elif (b == _CR or b == _LF) and nd > 0:
                    st = _S_HUNT
                    w[_W_ST] = st
                    self._end_telegram(w[_W_GOT], crc)
                else:
                    st = _S_HUNT
                    w[_W_ST] = st
                    self._framing("framing error in crc line")
                continue
            # Inside a telegram: every byte up to '!' is CRC'd and counted.
            crc = (crc >> 4) ^ tab[(crc ^ b) & 0xF]
            crc = (crc >> 4) ^ tab[(crc ^ (b >> 4)) & 0xF]
            ln += 1
            if ln > TELEGRAM_MAX:
                st = _S_HUNT
                w[_W_ST] = st
                self._framing("framing error: telegram too long")
                continue
            if b == _LF:
                if st == _S_PGAP:
                    vlen = int(_put(val, vlen, obis.PROFILE_MAX, _L_TAIL))  # the 2 bytes kept free
                    if vlen < 0:
                        self.overlong = int(self.overlong) + 1
                    else:
                        stage(w[_W_SLOT], val, vlen)
                elif st >= _S_VALUE:
                    self.bad_values = int(self.bad_values) + 1
                st = _S_LINE
                continue
            if st == _S_SKIP or st == _S_HEADER:
                # Nothing to do until LF or '/': run the CRC over the span here.
                while i < n and ln < TELEGRAM_MAX:
                    b = p[i]
                    if b == _LF or b == _SLASH:
                        break
                    crc = (crc >> 4) ^ tab[(crc ^ b) & 0xF]
                    crc = (crc >> 4) ^ tab[(crc ^ (b >> 4)) & 0xF]
                    ln += 1
                    i += 1
                continue
            if st == _S_LINE:
                if _ZERO <= b and b <= _NINE:
                    w[_W_NUM] = b - _ZERO
                    w[_W_NF] = 0
                    w[_W_ACC] = 0
                    st = _S_OBIS
                elif b == _BANG:
                    w[_W_GOT] = 0
                    w[_W_NDIG] = 0
                    st = _S_CRC
                elif b != _CR:
                    st = _S_SKIP
            elif st == _S_OBIS:
                nf = w[_W_NF]
                if _ZERO <= b and b <= _NINE:
                    num = w[_W_NUM] * 10 + b - _ZERO
                    w[_W_NUM] = num
                    # A field out of range cannot be in the table: skip the line
                    # now, which also keeps the field a small int whatever the input.
                    if num > 255 or (nf < 2 and num > 3):
                        st = _S_SKIP
                    continue
                sep = _LPAR
                if nf == 0:
                    sep = _MINUS
                elif nf == 1:
                    sep = 0x3A  # ':'
                elif nf < 4:
                    sep = _DOT
                if nf > 4 or b != sep:
                    st = _S_SKIP
                    continue
                acc = w[_W_NUM]
                if nf == 1:
                    acc = (w[_W_ACC] << 2) | acc
                elif nf > 1:
                    acc = (w[_W_ACC] << 8) | acc
                w[_W_ACC] = acc
                w[_W_NUM] = 0
                w[_W_NF] = nf + 1
                if nf == 4:
                    lo = _W_SIZE
                    e = _W_SIZE + w[_W_NKEYS]
                    hi = e
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if w[mid] < acc:
                            lo = mid + 1
                        else:
                            hi = mid
                    if lo == e or w[lo] != acc:
                        st = _S_SKIP
                    else:
                        s = t8[w[_W_KSLOT] + lo - _W_SIZE]
                        k = t8[w[_W_KINDS] + s]
                        w[_W_SLOT] = s
                        w[_W_KIND] = k
                        if k == _K_PROFILE:
                            vcap = int(obis.PROFILE_MAX) - 2  # room for "]}"
                            vlen = int(_put(val, 0, vcap, _L_HEAD))
                            st = _S_PTS
                        else:
                            vlen = 0
                            vcap = w[w[_W_WIDTHS] + k]
                            st = _S_VALUE
            elif st == _S_VALUE:
                k = w[_W_KIND]
                if b == _RPAR or (b == _STAR and k == _K_NUMBER):
                    st = _S_SKIP  # units, further values: not published
                    m = vlen
                    if k == _K_NUMBER:
                        m = int(_norm(val, vlen, 0))
                    elif k == _K_TEXT:
                        if m == 0:
                            m = -1
                        j = 0
                        while j < vlen:
                            c = v[j]
                            if c < 0x20 or c > 0x7E:
                                m = -1
                                break
                            j += 1
                    else:  # breaker: 0/1/2 are words, ON/OFF stay
                        c = v[0]
                        if vlen == 1 and _ZERO <= c and c <= _ZERO + 2:
                            if c == _ZERO:
                                m = int(_put(val, 0, vcap, _L_OFF))
                            elif c == _ZERO + 1:
                                m = int(_put(val, 0, vcap, _L_ON))
                            else:
                                m = int(_put(val, 0, vcap, _L_READY))
                            if m < 0:
                                self.overlong = int(self.overlong) + 1
                                continue
                        elif not ((vlen == 2 and c == 0x4F and v[1] == 0x4E)
                                  or (vlen == 3 and c == 0x4F and v[1] == 0x46 and v[2] == 0x46)):
                            m = -1
                    if m < 0:
                        self.bad_values = int(self.bad_values) + 1
                    else:
                        vlen = m
                        stage(w[_W_SLOT], val, m)
                elif vlen < vcap:
                    v[vlen] = b
                    vlen += 1
                else:
                    self.overlong = int(self.overlong) + 1
                    st = _S_SKIP
            elif st == _S_PNUM:
                if b == _STAR or b == _RPAR:
                    s = w[_W_VSTART]
                    e = int(_norm(val, vlen, s))
                    f = s
                    if e >= 0 and v[s] == _MINUS:
                        f = s + 1
                    if e < 0 or v[e - 1] == _DOT or v[f] == _DOT:
                        self.bad_values = int(self.bad_values) + 1  # JSON has no "5." or ".5"
                        st = _S_SKIP
                    else:
                        vlen = e
                        st = _S_PUNIT if b == _STAR else _S_PGAP
                elif vlen < vcap:
                    v[vlen] = b
                    vlen += 1
                else:
                    self.overlong = int(self.overlong) + 1
                    st = _S_SKIP
            elif st == _S_PUNIT:
                if b == _RPAR:
                    st = _S_PGAP
            elif st == _S_PGAP:
                if b == _LPAR:
                    if w[_W_VSTART] != 0:  # not the first value
                        if vlen + 1 > vcap:
                            self.overlong = int(self.overlong) + 1
                            st = _S_SKIP
                            continue
                        v[vlen] = 0x2C  # ','
                        vlen += 1
                    w[_W_VSTART] = vlen
                    st = _S_PNUM
                elif b == _CR:
                    st = _S_SKIP
                    vlen = int(_put(val, vlen, obis.PROFILE_MAX, _L_TAIL))
                    if vlen < 0:
                        self.overlong = int(self.overlong) + 1
                    else:
                        stage(w[_W_SLOT], val, vlen)
                else:
                    self.bad_values = int(self.bad_values) + 1
                    st = _S_SKIP
            elif st == _S_PTS:
                if b == _RPAR:
                    st = _S_SKIP
                    if vlen == _L_HEAD:  # nothing after the head: no timestamp
                        self.bad_values = int(self.bad_values) + 1
                    else:
                        vlen = int(_put(val, vlen, vcap, _L_MID))
                        if vlen < 0:
                            self.overlong = int(self.overlong) + 1
                        else:
                            w[_W_VSTART] = 0  # no number yet
                            st = _S_PGAP
                elif not ((_ZERO <= b and b <= _NINE) or (0x41 <= b and b <= 0x5A) or (0x61 <= b and b <= 0x7A)):
                    self.bad_values = int(self.bad_values) + 1  # a timestamp is letters and digits: JSON-safe
                    st = _S_SKIP
                elif vlen < vcap:
                    v[vlen] = b
                    vlen += 1
                else:
                    self.overlong = int(self.overlong) + 1
                    st = _S_SKIP
        w[_W_ST] = st
        w[_W_CRC] = crc
        w[_W_LEN] = ln
        w[_W_VLEN] = vlen
        w[_W_VCAP] = vcap
        if garbage:
            self.garbage = int(self.garbage) + garbage

    async def run(self, stream, eof_ms=10):
        """Read a non-blocking stream (machine.UART, a socket) forever. Between
        telegrams it waits for the stream to become readable (asyncio's own I/O
        wait: no task runs for the reader while the line is quiet, where polling
        cost the chip a task switch, ~1.5 ms, every 10 ms). Inside a telegram it
        polls every _BUSY_MS, so that a telegram that stops mid-way for
        timeout_ms is counted as truncated (expire()). It awaits nothing but
        the stream and its own sleeps, so the network can never stall the UART.
        eof_ms: how often a stream at end-of-file (a closed socket) is tried."""
        import asyncio

        # asyncio.StreamReader(stream).readinto() would do the same wait, but
        # importing asyncio.stream builds its classes (Stream, Server) on the
        # heap: the I/O queue's wait directly costs nothing resident.
        core = asyncio.core
        buf = self._buf
        w = self._w
        while True:
            n = stream.readinto(buf)
            if n:
                # Empty the UART ring, not one chunk per turn: at the chip's
                # speed a turn of the other tasks takes tens of ms, and one
                # 128 B chunk per turn let the 1 KB ring overflow. Parsing is
                # ~10 times faster than the line, so this ends when the ring is
                # empty; the turn limit is for a stream faster than the line.
                turn = time.ticks_ms()
                ok = self.telegrams_ok
                while n:
                    self.feed(buf, n)
                    if time.ticks_diff(time.ticks_ms(), turn) > _TURN_MS:
                        if ok < 0 or self.telegrams_ok == ok:
                            break
                        ok = -1  # once per turn: a stream faster than the line still yields
                        turn = time.ticks_ms()
                    n = stream.readinto(buf)
                self._last_rx = time.ticks_ms()
                await asyncio.sleep_ms(0 if n else _BUSY_MS)
                continue
            # None: nothing there yet; 0: end of file (a stream that is always readable).
            if w[_W_ST] != _S_HUNT:
                if time.ticks_diff(time.ticks_ms(), self._last_rx) >= self.timeout_ms:
                    self.expire()
                # Inside a telegram its next bytes are due any moment, and its
                # last ones decide how soon the values go out: look again soon.
                # A wait for readability would never see the line go silent.
                await asyncio.sleep_ms(_BUSY_MS)
            elif n is None:
                await _readable(core, stream)
            else:
                await asyncio.sleep_ms(eof_ms)


def _readable(core, stream):
    # Awaitable: the caller's task sleeps in asyncio's I/O queue until stream
    # polls readable (what asyncio.Stream.readinto does before it reads).
    # core._io_queue is looked up per wait: new_event_loop() replaces it.
    yield core._io_queue.queue_read(stream)
