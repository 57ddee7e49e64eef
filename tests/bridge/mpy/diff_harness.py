# Differential check: the reader against p1reader_v020.py (the 0.2.0 bytecode
# reader, kept verbatim as the reference) on damaged streams. Both get the same
# bytes in the same chunks; every sink call (begin/stage with its bytes/commit/abort),
# every log line and the counters must be identical.
# usage: diff_harness.py <cases> <seed> <capture>...   prints "OK <cases>" or the first difference
import sys

import p1reader
import p1reader_portable as p1reader_v020


class Rec:
    def __init__(self):
        self.calls = []

    def begin(self):
        self.calls.append("b")

    def stage(self, slot, buf, n):
        self.calls.append((slot, bytes(buf[:n])))

    def commit(self):
        self.calls.append("c")
        return len(self.calls)

    def abort(self):
        self.calls.append("a")


_x = [1]


def rnd(k):
    x = (_x[0] * 1103515245 + 12345) & 0x3FFFFFFF
    _x[0] = x
    return (x >> 8) % k


_JUNK = (b"/", b"!", b"\r\n", b"\n", b"(", b")", b"*", b"\xff" * 40, b"1-0:1.8.0(", b"0-0:98.1.0(",
         b"(000123.5*kWh)", b".", b"-", b"0", b"A1F", b"\x00", b"0-0:96.50.68(", b"0-0:96.13.0(",
         b"0-0:96.3.10(2)\r\n", b"0-0:96.50.68(OFF)\r\n", b"(0)", b"(1)", b"(2)", b"(3)", b"(ON)", b"(-0.5*V)",
         b"0-0:96.1.0(", b"(\x7f)", b"()", b"(5.)", b"(.5)", b"(00.0)", b"S)(", b"1-0:99.97.0(")


def mutate(base, captures):
    d = bytearray(base)
    for _ in range(1 + rnd(6)):
        op = rnd(8)
        if not d:
            d = bytearray(captures[rnd(len(captures))])
        p = rnd(len(d))
        if op == 0:
            d[p] = rnd(256)
        elif op == 1:
            d[p] ^= 1 << rnd(8)
        elif op == 2:
            d = d[:p] + _JUNK[rnd(len(_JUNK))] + d[p:]
        elif op == 3:
            d = d[:p] + d[p + 1 + rnd(40):]
        elif op == 4:
            d = d[:p]
        elif op == 5:
            o = captures[rnd(len(captures))]
            d = d[:p] + o[rnd(len(o)):]
        elif op == 6:
            q = rnd(len(d))
            d = d[:p] + d[q:q + rnd(300)] + d[p:]
        else:
            d += captures[rnd(len(captures))]
    return d


def run(mod, data, chunks):
    sink = Rec()
    logs = []
    r = mod.P1Reader(sink, log=logs.append)
    buf = bytearray(600)
    pos = 0
    k = 0
    err = None
    try:
        while pos < len(data):
            n = min(chunks[k % len(chunks)], len(data) - pos)
            k += 1
            buf[0:n] = data[pos:pos + n]
            for i in range(n, min(n + 8, len(buf))):
                buf[i] = 0x2F
            r.feed(buf, n)
            if chunks[0] == 7 and k % 5 == 0:
                r.expire()
            pos += n
    except Exception as e:
        err = repr(e)
    return (sink.calls, logs, r.counters(), err, r.in_telegram())


def main():
    cases, _x[0] = int(sys.argv[1]), int(sys.argv[2])
    captures = [open(p, "rb").read() for p in sys.argv[3:]]
    for c in range(cases):
        data = mutate(captures[rnd(len(captures))], captures) if c else captures[0] * 2
        chunks = [1 + rnd(600) for _ in range(1 + rnd(4))]
        if rnd(10) == 0:
            chunks = [7]  # with expire() calls between feeds
        a = run(p1reader_v020, data, chunks)
        b = run(p1reader, data, chunks)
        if a != b:
            print("DIFF case", c, "chunks", chunks)
            print("data", bytes(data))
            for x, y in zip(a, b):
                if x != y:
                    print("want", x)
                    print("got ", y)
            return
    print("OK", cases)


main()
