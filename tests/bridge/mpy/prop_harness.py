# Persistent harness for tests/bridge/test_reader_properties.py (MicroPython unix port).
#
# Protocol on stdin/stdout, every message a 4-byte big-endian length + payload:
#   out, once at start:  repr((obis.NAMES, sorted((key, slot) for obis.SLOT),
#                              obis.KIND or None, obis.KINDS or None))
#   in, per case:        2-byte chunk count K, K x 2-byte chunk sizes, stream bytes
#                        (a zero-length message ends the harness)
#   out, per case:       repr((commits, error, counters, protocol))
#     commits   list of committed telegrams, each a list of (slot, value bytes)
#               in staging order
#     error     None, or the text of an exception that escaped P1Reader.feed
#     counters  reader.counters()
#     protocol  list of sink-protocol violations seen (stage/commit outside a
#               begin ... commit/abort bracket)
# Each stream goes to a fresh P1Reader through a 512-byte buffer that is reused
# and overwritten between feeds, like the UART buffer in the bridge; chunk sizes
# cycle through the list the test sent.
import sys
import io

import obis
import p1reader

_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer


def _read(n):
    out = b""
    while len(out) < n:
        got = _IN.read(n - len(out))
        if not got:
            return None
        out += got
    return out


def _send(text):
    b = text.encode()
    _OUT.write(len(b).to_bytes(4, "big"))
    _OUT.write(b)
    _OUT.flush()


class Recorder:
    """Sink that records what the reader publishes; checks the call order."""

    def __init__(self):
        self.commits = []
        self.protocol = []
        self._staged = None

    def begin(self):
        self._staged = []

    def stage(self, slot, buf, n):
        if self._staged is None:
            self.protocol.append("stage outside a telegram: slot %d" % slot)
            return
        self._staged.append((slot, bytes(buf[:n])))

    def commit(self):
        if self._staged is None:
            self.protocol.append("commit outside a telegram")
            return 0
        self.commits.append(self._staged)
        n = len(self._staged)
        self._staged = None
        return n

    def abort(self):
        self._staged = None


def run_case(chunks, data):
    sink = Recorder()
    reader = p1reader.P1Reader(sink)
    buf = bytearray(512)
    mv = memoryview(data)
    pos = 0
    k = 0
    err = None
    try:
        while pos < len(data):
            n = min(chunks[k % len(chunks)], len(data) - pos)
            k += 1
            buf[0:n] = mv[pos:pos + n]
            # Scribble over the rest so a reader keeping a view of buf sees junk.
            for i in range(n, min(n + 8, len(buf))):
                buf[i] = 0x2F
            reader.feed(buf, n)
            pos += n
    except Exception as e:  # the property: nothing may escape the reader
        s = io.StringIO()
        sys.print_exception(e, s)
        err = s.getvalue()
    return repr((sink.commits, err, reader.counters(), sink.protocol))


def main():
    kind = getattr(obis, "KIND", None)
    _send(repr((obis.NAMES, sorted((k, s) for k, s in obis.SLOT.items()),
                None if kind is None else list(kind), getattr(obis, "KINDS", None))))
    while True:
        head = _read(4)
        if head is None:
            return
        size = int.from_bytes(head, "big")
        if size == 0:
            return
        msg = _read(size)
        k = int.from_bytes(msg[0:2], "big")
        chunks = [int.from_bytes(msg[2 + 2 * i:4 + 2 * i], "big") for i in range(k)]
        data = msg[2 + 2 * k:]
        _send(run_case(chunks, data))


main()
