"""Streaming P1 (DSMR) telegram reader, portable bytecode (no native code).

The fallback of p1reader.py, whose byte loop is @micropython.viper: an ESP8266
can only run native code from iRAM1 (a few hundred bytes free) or from flash
set aside with esp.set_native_code_location(). Where p1reader.py cannot load,
bridge.py imports this one instead: same API and behaviour (the 0.2.0 reader;
tests/bridge/test_reader_differential.py checks them against each other), about
20x the CPU per byte.

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

# Separator expected after field n of A-B:C.D.E; the last one opens the value.
_SEPS = b"-:..("
_P_HEAD = b'{"timestamp":"'
_P_MID = b'","values":['
_P_TAIL = b"]}"
_B_WORDS = (b"OFF", b"ON", b"READY")  # breaker 0, 1, 2


def _mktable():
    # CRC16/ARC (poly 0x8005 reflected = 0xA001, init 0): one table lookup per byte
    # instead of 8 shift/xor steps, which matters at 115200 baud on an 80 MHz core.
    t = array("H")
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t.append(c)
    return t


_TAB = _mktable()


def crc16(data, crc=0):
    """CRC16/ARC of data (any indexable bytes), continuing from crc."""
    tab = _TAB
    for b in data:
        crc = (crc >> 8) ^ tab[(crc ^ b) & 0xFF]
    return crc


def _same(buf, n, lit):
    # buf[0:n] == lit without slicing (a slice would allocate).
    if n != len(lit):
        return False
    for i in range(n):
        if buf[i] != lit[i]:
            return False
    return True


def normalise(buf, n, start=0):
    """Normalise the number in buf[start:n] in place; return its new end, or -1.

    Drops leading zeros but keeps one digit before the point ("000812.421" ->
    "812.421", "003" -> "3", "00.250" -> "0.250", "-0.5" stays). Only digits, one
    point and a leading minus are valid: anything else (a timestamp, "ON") is -1.
    With start=0 the result is the new length. The text is kept as text:
    ESP8266 floats have ~7 significant digits.
    """
    if n <= start:
        return -1
    s = start + 1 if buf[start] == _MINUS else start
    dots = 0
    digits = 0
    for i in range(s, n):
        c = buf[i]
        if c == _DOT:
            dots += 1
        elif _ZERO <= c <= _NINE:
            digits += 1
        else:
            return -1
    if digits == 0 or dots > 1:
        return -1
    j = s
    while j < n - 1 and buf[j] == _ZERO and _ZERO <= buf[j + 1] <= _NINE:
        j += 1
    if j > s:
        k = s
        while j < n:
            buf[k] = buf[j]
            k += 1
            j += 1
        n = k
    return n


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
        # packed code -> slot; only on this fallback path (bytecode cannot binary-search fast)
        self._slots = dict(zip(array("i", obis.KEYS), obis.KSLOT))
        self._kinds = obis.KIND
        self.telegrams_ok = 0
        self.crc_errors = 0
        self.truncated = 0
        self.framing = 0
        self.garbage = 0
        self.overlong = 0
        self.bad_values = 0
        self._st = _S_HUNT
        self._crc = 0
        self._len = 0
        self._nf = 0  # OBIS fields completed
        self._num = 0  # current OBIS field
        self._acc = 0  # packed OBIS so far
        self._slot = -1
        self._kind = 0
        self._vlen = 0
        self._vcap = 0
        self._vstart = 0  # profile: where the current number starts in _val
        self._got = 0  # CRC digits received
        self._ndig = 0
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
        return self._st != _S_HUNT

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    def _end_telegram(self):
        if self._got == self._crc:
            self.telegrams_ok += 1
            n = self.sink.commit()
            if self.log is not None:  # format only when someone reads it
                self.log("telegram ok crc=%04X values=%d" % (self._crc, n))
        else:
            self.crc_errors += 1
            self.sink.abort()
            if self.log is not None:
                self.log("crc error got=%04X want=%04X" % (self._got, self._crc))

    def expire(self):
        """The line went silent: a telegram in progress is truncated (counted,
        staged values dropped) and the reader hunts for the next '/'."""
        if self._st != _S_HUNT:
            self._st = _S_HUNT
            self.truncated += 1
            self.sink.abort()
            if self.log is not None:
                self.log("truncated telegram: line silent for %d ms" % self.timeout_ms)

    # -- values (called once per mapped value, not per byte) -----------------------
    def _put(self, lit):
        # Append a literal to the value buffer; False (and counted) if it won't fit.
        n = self._vlen
        e = n + len(lit)
        if e > self._vcap:
            self.overlong += 1
            return False
        v = self._val
        for i in range(len(lit)):
            v[n + i] = lit[i]
        self._vlen = e
        return True

    def _value_done(self):
        v = self._val
        n = self._vlen
        k = self._kind
        if k == _K_NUMBER:
            n = normalise(v, n)
        elif k == _K_TEXT:
            for i in range(n):
                if not 0x20 <= v[i] <= 0x7E:
                    n = -1
                    break
            if n == 0:
                n = -1
        else:  # breaker
            if n == 1 and _ZERO <= v[0] <= _ZERO + 2:
                self._vlen = 0
                if not self._put(_B_WORDS[v[0] - _ZERO]):
                    return
                n = self._vlen
            elif not (_same(v, n, b"ON") or _same(v, n, b"OFF")):
                n = -1
        if n < 0:
            self.bad_values += 1
        else:
            self.sink.stage(self._slot, v, n)

    def _profile_number(self):
        # Normalise the number just collected into a JSON number; False if invalid.
        v = self._val
        s = self._vstart
        e = normalise(v, self._vlen, s)
        if e < 0 or v[e - 1] == _DOT or v[s + 1 if v[s] == _MINUS else s] == _DOT:
            self.bad_values += 1  # JSON has no "5." or ".5"
            return False
        self._vlen = e
        return True

    def _profile_done(self):
        self._vcap = obis.PROFILE_MAX  # the 2 bytes kept free for the tail
        if self._put(_P_TAIL):
            self.sink.stage(self._slot, self._val, self._vlen)

    # -- the byte loop -------------------------------------------------------------
    def feed(self, buf, n=-1):
        """Process buf[0:n] (all of buf if n < 0). Allocates nothing per byte."""
        if n < 0:
            n = len(buf)
        tab = _TAB
        st = self._st
        crc = self._crc
        i = 0
        while i < n:
            b = buf[i]
            i += 1
            if b == _SLASH:
                # A '/' only ever starts a telegram: resync here whatever came before.
                if st != _S_HUNT:
                    self.truncated += 1
                    self.sink.abort()
                    self._say("truncated telegram")
                self.sink.begin()
                crc = tab[b]  # crc16 of b"/" from init 0
                self._len = 1
                st = _S_HEADER
                continue
            if st == _S_HUNT:
                if b != _CR and b != _LF:
                    self.garbage += 1
                continue
            if st == _S_CRC:
                if _ZERO <= b <= _NINE:
                    h = b - _ZERO
                elif 0x41 <= b <= 0x46:
                    h = b - 0x37
                elif 0x61 <= b <= 0x66:
                    h = b - 0x57
                else:
                    h = -1
                if h >= 0 and self._ndig < 4:
                    self._got = (self._got << 4) | h
                    self._ndig += 1
                elif (b == _CR or b == _LF) and self._ndig > 0:
                    self._crc = crc
                    self._end_telegram()
                    st = _S_HUNT
                else:
                    self.framing += 1
                    self.sink.abort()
                    self._say("framing error in crc line")
                    st = _S_HUNT
                continue
            crc = (crc >> 8) ^ tab[(crc ^ b) & 0xFF]
            self._len += 1
            if self._len > TELEGRAM_MAX:
                self.framing += 1
                self.sink.abort()
                self._say("framing error: telegram too long")
                st = _S_HUNT
                continue
            if b == _LF:
                if st == _S_PGAP:
                    self._profile_done()
                elif st >= _S_VALUE:
                    self.bad_values += 1
                st = _S_LINE
                continue
            if st == _S_SKIP:
                continue
            if st == _S_LINE:
                if _ZERO <= b <= _NINE:
                    self._num = b - _ZERO
                    self._nf = 0
                    self._acc = 0
                    st = _S_OBIS
                elif b == _BANG:
                    self._got = 0
                    self._ndig = 0
                    st = _S_CRC
                elif b != _CR:
                    st = _S_SKIP
            elif st == _S_OBIS:
                nf = self._nf
                if _ZERO <= b <= _NINE:
                    self._num = self._num * 10 + b - _ZERO
                    # A field out of range cannot be in the table: skip the line
                    # now, which also keeps _num a small int whatever the input.
                    if self._num > (3 if nf < 2 else 255):
                        st = _S_SKIP
                elif nf < 5 and b == _SEPS[nf]:
                    if nf == 0:
                        self._acc = self._num
                    else:
                        self._acc = (self._acc << (2 if nf == 1 else 8)) | self._num
                    self._num = 0
                    self._nf = nf + 1
                    if nf == 4:
                        s = self._slots.get(self._acc, -1)
                        if s < 0:
                            st = _S_SKIP
                        else:
                            k = self._kinds[s]
                            self._slot = s
                            self._kind = k
                            self._vlen = 0
                            if k == _K_PROFILE:
                                self._vcap = obis.PROFILE_MAX - 2  # room for "]}"
                                self._put(_P_HEAD)
                                st = _S_PTS
                            else:
                                self._vcap = obis.WIDTHS[k]
                                st = _S_VALUE
                else:
                    st = _S_SKIP
            elif st == _S_VALUE:
                if b == _RPAR or (b == _STAR and self._kind == _K_NUMBER):
                    self._value_done()
                    st = _S_SKIP  # units, further values: not published
                elif self._vlen < self._vcap:
                    self._val[self._vlen] = b
                    self._vlen += 1
                else:
                    self.overlong += 1
                    st = _S_SKIP
            elif st == _S_PNUM:
                if b == _STAR or b == _RPAR:
                    if not self._profile_number():
                        st = _S_SKIP
                    else:
                        st = _S_PUNIT if b == _STAR else _S_PGAP
                elif self._vlen < self._vcap:
                    self._val[self._vlen] = b
                    self._vlen += 1
                else:
                    self.overlong += 1
                    st = _S_SKIP
            elif st == _S_PUNIT:
                if b == _RPAR:
                    st = _S_PGAP
            elif st == _S_PGAP:
                if b == _LPAR:
                    if self._vstart and not self._put(b","):  # not the first value
                        st = _S_SKIP
                    else:
                        self._vstart = self._vlen
                        st = _S_PNUM
                elif b == _CR:
                    self._profile_done()
                    st = _S_SKIP
                else:
                    self.bad_values += 1
                    st = _S_SKIP
            elif st == _S_PTS:
                if b == _RPAR:
                    if self._vlen == len(_P_HEAD):
                        self.bad_values += 1
                        st = _S_SKIP
                    elif self._put(_P_MID):
                        self._vstart = 0  # no number yet
                        st = _S_PGAP
                    else:
                        st = _S_SKIP
                elif not (_ZERO <= b <= _NINE or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A):
                    self.bad_values += 1  # a timestamp is letters and digits: JSON-safe
                    st = _S_SKIP
                elif self._vlen < self._vcap:
                    self._val[self._vlen] = b
                    self._vlen += 1
                else:
                    self.overlong += 1
                    st = _S_SKIP
            # _S_HEADER: nothing to do until LF.
        self._st = st
        self._crc = crc

    async def run(self, stream, eof_ms=10):
        """Read a non-blocking stream (machine.UART, a socket) forever: waits
        for it to become readable between telegrams, polls every _BUSY_MS
        inside one so that a telegram silent for timeout_ms is truncated
        (expire()). The same loop as p1reader.P1Reader.run (see why there)."""
        import asyncio

        core = asyncio.core
        buf = self._buf
        while True:
            n = stream.readinto(buf)
            if n:
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
            if self._st != _S_HUNT:
                if time.ticks_diff(time.ticks_ms(), self._last_rx) >= self.timeout_ms:
                    self.expire()
                await asyncio.sleep_ms(_BUSY_MS)
            elif n is None:
                await _readable(core, stream)
            else:
                await asyncio.sleep_ms(eof_ms)


def _readable(core, stream):
    # The caller's task sleeps in asyncio's I/O queue until stream polls
    # readable (p1reader._readable).
    yield core._io_queue.queue_read(stream)
