# MicroPython side of bench/heap_bench.py: one reader's heap, on the interpreter
# given (the virtual ESP8266's). Not firmware, not a test.
#
#   heap_child rest <reader> <capture> <telegrams> <free_at_start>
#       holds heap back so that <free_at_start> bytes are free (the chip's free heap
#       at main.py), sets the chip's GC threshold, then prints one repr'd dict:
#         free0     gc.mem_free() after gc.collect(), before the reader's modules
#         fmod      the same after importing them
#         free1     the same after building the reader too
#         low       lowest gc.mem_free() sampled, without collecting, while
#                   replaying <telegrams> telegrams (see sample points below)
#         committed telegrams whose CRC matched (must be <telegrams>)
#       or {"error": text} if the reader raised (MemoryError is a figure too)
#   heap_child replay <reader> <capture> <telegrams>
#       replays; prints "OK <committed>" (heap_bench searches -X heapsize with it)
#
# <reader>: bridge    p1reader.P1Reader(snapshot.Snapshot()), as bridge.py builds
#                     them, fed 128-byte chunks (a UART readinto's worth); sampled
#                     after every chunk and every telegram
#           seed      seed_style_reader.SeedStyleReader(seed_topics.TOPICS) on the
#                     capture as a stream; sampled before every readline (every
#                     line) and after every telegram, before its queue is drained
#           baseline  nothing: only what this harness holds (the -X heapsize floor)
#
# Everything the harness needs (the capture, its chunks, the stream) is allocated
# before free0, so the difference free0 - free1 is the reader's alone. asyncio and
# its Event class are loaded before free0 too (~2.6 KB): snapshot.py uses them, but
# the whole bridge needs them anyway (frozen, as on the chip), so they are no
# reader's cost; the Snapshot's Event object is.
import gc
import sys
import io

import asyncio

asyncio.Event  # noqa: B018 - asyncio loads its event submodule on first use: now

_CHUNK = 128
_CHIP_HEAP_TOTAL = 37952  # the ESP8266's GC pool; _boot.py sets the threshold to a quarter


def _holder():
    """hold(n): keep n bytes of heap in one block (replacing the last one), as the
    virtual board's calibration reserve does, with its C glue where there is one."""
    try:
        import _vboard

        return _vboard.reserve
    except ImportError:
        box = [None]

        def hold(n):
            box[0] = None
            if n > 32:
                box[0] = bytearray(n - 16)  # less its header

        return hold


def harness(which, data):
    """(box, one telegram function, committed-count function, lowest-free box).

    Built before free0, so that nothing of the harness is counted: the reader
    goes into box[0] later (make_reader), and one() finds it there."""
    box = [None]
    low = [1 << 30]

    def sample():
        f = gc.mem_free()
        if f < low[0]:
            low[0] = f

    if which == "baseline":
        count = [0]

        def one():
            count[0] += 1

        return box, one, lambda: count[0], low
    if which == "seed":
        stream = io.BytesIO(data)

        class Sampled:
            # The seed's reader pulls lines: the heap is sampled at each pull.
            def readline(self):
                sample()
                return stream.readline()

        src = Sampled()

        def one():
            r = box[0]
            stream.seek(0)
            r.read_telegram(src)
            sample()  # the telegram's values are queued: the seed's peak
            r.queue.clear()  # the publisher's job

        return box, one, lambda: box[0].telegrams_ok, low
    chunks = [bytearray(data[i:i + _CHUNK]) for i in range(0, len(data), _CHUNK)]
    nc = len(chunks)

    def one():
        r = box[0]
        i = 0
        while i < nc:
            r.feed(chunks[i])
            sample()
            i += 1

    return box, one, lambda: box[0].telegrams_ok, low


def make_reader(which, box, imported):
    """Import the reader's modules, call imported(), build the reader: what
    free0 - free1 measures (free0 - fmod the modules, fmod - free1 the objects)."""
    if which == "seed":
        import seed_style_reader
        import seed_topics

        imported()
        box[0] = seed_style_reader.SeedStyleReader(seed_topics.TOPICS)
    elif which == "bridge":
        import p1reader
        import snapshot

        imported()
        box[0] = p1reader.P1Reader(snapshot.Snapshot())


def main():
    mode, which, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = open(path, "rb").read()
    box, one, committed, low = harness(which, data)
    gc.threshold(_CHIP_HEAP_TOTAL // 4)
    if mode == "replay":
        make_reader(which, box, lambda: None)
        for _ in range(n):
            one()
        print("OK", committed())
        return
    out = {"free0": 0, "fmod": 0, "free1": 0, "low": 0, "committed": 0}  # keys in place: no growth later

    def imported():
        gc.collect()
        out["fmod"] = gc.mem_free()

    target = int(sys.argv[5])
    hold = _holder()
    gc.collect()
    size = (gc.mem_free() - target) & ~15
    k = 0
    while k < 4:  # allocation-free, so the last reading is free0's; converges in one or two
        hold(0)
        gc.collect()
        hold(size)
        gc.collect()
        err = gc.mem_free() - target
        if 0 <= err < 16:
            break
        size = (size + err) & ~15
        k += 1
    try:
        gc.collect()
        out["free0"] = out["fmod"] = gc.mem_free()
        make_reader(which, box, imported)
        gc.collect()
        out["free1"] = low[0] = gc.mem_free()
        for _ in range(n):
            one()
        out["low"] = low[0]
        out["committed"] = committed()
    except Exception as e:  # MemoryError above all: a figure, not a failure
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(repr(out))


main()
