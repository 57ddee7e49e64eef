"""Streaming P1 (DSMR) telegram reader: bytes in, CRC-checked values out.

The reader never holds a telegram or a line. It walks the byte stream once,
updating the CRC16 per byte, packing the OBIS code into an int and copying only
the first value of a mapped line into a small fixed buffer. Values go to a sink
(see snapshot.Snapshot) that keeps them staged until the telegram's CRC matches.
Nothing here allocates per byte, so the 1 KB 0xFF consumer-message line of the
SX631 costs no heap and is never decoded (bytes.decode would raise on it).

Sink protocol: begin(), stage(slot, buf, n), commit() -> number of values, abort().
"""

from array import array
from micropython import const

import obis

VMAX = const(24)  # longest value text kept: "000000.000" fits with a wide margin
TELEGRAM_MAX = const(16384)  # bytes from '/' to '!': beyond that it is not a telegram

_S_HUNT = const(0)  # between telegrams: waiting for '/'
_S_HEADER = const(1)  # the /XXX5 identification line
_S_LINE = const(2)  # at the start of a line
_S_OBIS = const(3)  # in A-B:C.D.E
_S_VALUE = const(4)  # inside the first (...) of a mapped line
_S_SKIP = const(5)  # rest of the line is not ours; still CRC'd
_S_CRC = const(6)  # after '!': 3 or 4 hex digits, then CR LF

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

# Separator expected after field n of A-B:C.D.E; the last one opens the value.
_SEPS = b"-:..("


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


def normalise(buf, n):
    """Normalise a value in buf[0:n] in place; return its new length, or -1.

    Drops leading zeros but keeps one digit before the point ("000812.421" ->
    "812.421", "003" -> "3", "00.250" -> "0.250", "-0.5" stays). Only digits, one
    point and a leading minus are valid: anything else (a timestamp, "ON") is -1.
    The text is kept as text: ESP8266 floats have ~7 significant digits.
    """
    if n <= 0:
        return -1
    s = 1 if buf[0] == _MINUS else 0
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

    Counters (ints, read them any time):
      telegrams_ok  CRC matched, values committed
      crc_errors    complete telegram, CRC mismatch: nothing committed
      truncated     a new '/' arrived before the previous telegram's CRC line
      framing       malformed CRC line, or a telegram longer than TELEGRAM_MAX
      garbage       bytes outside any telegram (CR/LF between telegrams excluded)
      overlong      mapped lines whose value did not fit VMAX (line skipped)
      bad_values    mapped lines whose value is not a number (line skipped)
    """

    def __init__(self, sink, log=None, chunk=128):
        self.sink = sink
        self.log = log
        self._buf = bytearray(chunk)
        self._val = bytearray(VMAX)
        self._slots = obis.SLOT
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
        self._vlen = 0
        self._got = 0  # CRC digits received
        self._ndig = 0

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
                elif (b == _CR or b == _LF) and self._ndig >= 3:
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
                if st == _S_VALUE:
                    self.bad_values += 1
                st = _S_LINE
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
                        self._slot = self._slots.get(self._acc, -1)
                        if self._slot < 0:
                            st = _S_SKIP
                        else:
                            self._vlen = 0
                            st = _S_VALUE
                else:
                    st = _S_SKIP
            elif st == _S_VALUE:
                if b == _RPAR or b == _STAR:
                    v = normalise(self._val, self._vlen)
                    if v < 0:
                        self.bad_values += 1
                    else:
                        self.sink.stage(self._slot, self._val, v)
                    st = _S_SKIP  # units, further values: not published
                elif self._vlen < VMAX:
                    self._val[self._vlen] = b
                    self._vlen += 1
                else:
                    self.overlong += 1
                    st = _S_SKIP
            # _S_HEADER and _S_SKIP: nothing to do until LF.
        self._st = st
        self._crc = crc

    async def run(self, stream, idle_ms=20):
        """Read a pollable stream (machine.UART, socket) forever. Never awaits
        anything but the stream, so the network can never stall the UART."""
        import asyncio

        sr = asyncio.StreamReader(stream)
        buf = self._buf
        while True:
            n = await sr.readinto(buf)
            if n:
                self.feed(buf, n)
            else:
                # None/0: nothing there after all (or EOF on a socket): do not spin.
                await asyncio.sleep_ms(idle_ms)
