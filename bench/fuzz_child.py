# MicroPython side of bench/fuzz_reader.py: runs damaged streams through P1Reader.
# (Run by fuzz_reader.py on the virtual ESP8266's interpreter; not firmware, not a test.)
#
# Uses the firmware only as the bridge does: P1Reader(sink), feed(buf, n), counters().
# No obis/obismap import: the host names slots from obis.TABLE's source itself.
#
# Protocol, every message a 4-byte little-endian length + payload:
#   out, once at start:  the counter names, comma-separated (counters() order fixed here)
#   in, per case:        u16 K, K x u16 chunk sizes, then the stream (rest of the message);
#                        a zero-length message ends the child
#   out, per case:       u8 1 if an exception escaped feed() (then u32 length + its text),
#                        u32 per counter, u16 P + P x (u16 length + text) sink-protocol
#                        violations, u16 C commits, each u16 staged count + u32 length +
#                        the stages: u16 slot, u16 n, n value bytes (staging order)
# The host keeps many cases in flight; answering every case as soon as it is done
# lets it name the case a crash or hang happened on.
import sys
import io
import struct

import p1reader

_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer
_BUF = 512  # the UART-sized buffer every chunk goes through (chunk sizes are <= 512)


def _read(n):
    out = _IN.read(n)
    if out is None or len(out) == n:
        return out
    out = bytearray(out)
    while len(out) < n:
        got = _IN.read(n - len(out))
        if not got:
            return None
        out += got
    return out


def _send(b):
    _OUT.write(struct.pack("<I", len(b)))
    _OUT.write(b)
    _OUT.flush()


class Recorder:
    """Sink that records every stage of every commit, and calls out of order."""

    def __init__(self):
        self.commits = []
        self.protocol = []
        self._cur = None
        self._n = 0

    def begin(self):
        self._cur = bytearray()
        self._n = 0

    def stage(self, slot, buf, n):
        cur = self._cur
        if cur is None:
            self.protocol.append("stage outside a telegram: slot %d" % slot)
            return
        cur += struct.pack("<HH", slot, n)
        cur += buf[:n]
        self._n += 1

    def commit(self):
        if self._cur is None:
            self.protocol.append("commit outside a telegram")
            return 0
        n = self._n
        self.commits.append(struct.pack("<HI", n, len(self._cur)) + self._cur)
        self._cur = None
        return n

    def abort(self):
        self._cur = None


_KEYS = sorted(p1reader.P1Reader(Recorder()).counters())


def run_case(chunks, data, buf):
    sink = Recorder()
    reader = p1reader.P1Reader(sink)
    mv = memoryview(data)
    total = len(data)
    nch = len(chunks)
    pos = 0
    k = 0
    err = None
    try:
        while pos < total:
            n = chunks[k % nch]
            if n > total - pos:
                n = total - pos
            k += 1
            buf[0:n] = mv[pos:pos + n]
            # Scribble past the chunk, as the next UART read would: a reader that
            # kept a view of buf would see junk.
            buf[n:n + 8] = b"////////"
            reader.feed(buf, n)
            pos += n
    except Exception as e:  # the property: nothing may escape the reader
        s = io.StringIO()
        sys.print_exception(e, s)
        err = s.getvalue().encode()
    c = reader.counters()
    out = bytearray(b"\x01" + struct.pack("<I", len(err)) + err if err is not None else b"\x00")
    for key in _KEYS:
        out += struct.pack("<I", c[key])
    out += struct.pack("<H", len(sink.protocol))
    for p in sink.protocol:
        p = p.encode()
        out += struct.pack("<H", len(p)) + p
    out += struct.pack("<H", len(sink.commits))
    for blob in sink.commits:
        out += blob
    return out


def main():
    _send(",".join(_KEYS).encode())
    buf = bytearray(_BUF + 8)
    while True:
        head = _read(4)
        if head is None:
            return
        size = struct.unpack("<I", head)[0]
        if size == 0:
            return
        msg = _read(size)
        k = struct.unpack_from("<H", msg, 0)[0]
        chunks = struct.unpack_from("<%dH" % k, msg, 2)
        _send(run_case(chunks, memoryview(msg)[2 + 2 * k:], buf))


main()
