# MicroPython side of bench/reader_bench.py (run by it; not a test, not firmware).
#
#   bench_child cpu <reader> <capture> <telegrams> <runs>
#       prints one repr'd dict: per-run microseconds and micropython.mem_total()
#       deltas, telegrams committed, "heap": GC-heap bytes left consumed per
#       telegram (automatic GC off, 4 telegrams), "locked": True if the reader
#       also runs one telegram with the heap locked
#   bench_child replay <reader> <capture> <telegrams>
#       replays the capture; prints "OK <committed>" when every telegram committed
#       (the heap-size search runs this under -X heapsize=...)
#
# <reader>: bridge   P1Reader + Snapshot, fed 128-byte chunks (UART-sized reads)
#           nullsink P1Reader + a sink that does nothing (the reader's own share)
#           seed     seed_style_reader.SeedStyleReader(seed_topics.TOPICS) on io.BytesIO,
#                    queue drained after every telegram (the publisher's job)
#           baseline no reader: only the capture and the chunk buffers (heap floor)
#           crc_py   only the table-driven CRC16 over the telegram in Python (the floor
#                    of any reader that touches every byte in bytecode)
#           crc_viper the same CRC as a @micropython.viper function (native code)
import sys
import time
import gc
import micropython

import asyncio

# snapshot.py uses asyncio.Event; the bridge loads asyncio anyway, so it is loaded
# here first, for every reader and the baseline alike (its event submodule on first use).
asyncio.Event  # noqa: B018

_CHUNK = 128


class NullSink:
    def begin(self):
        pass

    def stage(self, slot, buf, n):
        pass

    def commit(self):
        return 0

    def abort(self):
        pass


def _snapshot():
    from snapshot import Snapshot

    return Snapshot()  # as bridge.py builds it: slot widths by kind (obis.TABLE)


def make(which, data):
    """(one_telegram function, committed-count function) for a reader kind."""
    if which == "seed":
        import io
        from seed_style_reader import SeedStyleReader
        from seed_topics import TOPICS  # generated from obis.TABLE (bench/firmware_set.py)

        r = SeedStyleReader(TOPICS)
        stream = io.BytesIO(data)

        def one():
            stream.seek(0)
            r.read_telegram(stream)
            r.queue.clear()

        return one, lambda: r.telegrams_ok

    if which == "crc_py":
        from seed_style_reader import crc16

        box = [0]

        def one():
            crc16(data)
            box[0] += 1

        return one, lambda: box[0]
    if which == "crc_viper":
        from seed_style_reader import _TAB
        from viper_crc import crc16 as _crc_viper

        box = [0]

        def one():
            _crc_viper(data, len(data), _TAB)
            box[0] += 1

        return one, lambda: box[0]

    chunks = [bytearray(data[i:i + _CHUNK]) for i in range(0, len(data), _CHUNK)]
    nc = len(chunks)
    if which == "baseline":
        box = [0]

        def one():
            box[0] += 1

        return one, lambda: box[0]

    import p1reader

    r = p1reader.P1Reader(NullSink() if which == "nullsink" else _snapshot())

    def one():
        i = 0
        while i < nc:
            r.feed(chunks[i])
            i += 1

    return one, lambda: r.telegrams_ok


def main():
    mode, which, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = open(path, "rb").read()
    one, committed = make(which, data)
    if mode == "replay":
        for _ in range(n):
            one()
        print("OK", committed())
        return
    runs = int(sys.argv[5])
    one()  # warm up: first-call costs (dict growth, caches) are not per telegram
    us = []
    alloc = []
    base = committed()
    for _ in range(runs):
        gc.collect()
        m0 = micropython.mem_total()
        t0 = time.ticks_us()
        k = 0
        while k < n:
            one()
            k += 1
        us.append(time.ticks_diff(time.ticks_us(), t0))
        alloc.append(micropython.mem_total() - m0)
    done = committed() - base
    k = 4
    gc.collect()
    gc.disable()
    f0 = gc.mem_free()
    for _ in range(k):
        one()
    heap = (f0 - gc.mem_free()) // k
    gc.enable()
    gc.collect()
    micropython.heap_lock()
    try:
        one()
        locked = True
    except MemoryError:
        locked = False
    micropython.heap_unlock()
    print(repr({"us": us, "alloc": alloc, "committed": done, "heap": heap, "locked": locked}))


main()
