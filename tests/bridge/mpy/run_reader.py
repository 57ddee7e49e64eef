# Feed a byte stream file to P1Reader in pseudo-random chunks with the heap LOCKED
# (any allocation in the per-byte path raises MemoryError), then print one JSON
# line: counters, commits, superseded, and the latest value of every slot.
# usage: run_reader.py <stream file> <seed> [log] [portable] [silence=<offset>,...]
# silence=: call reader.expire() (what the run loop's timer does after
# telegram_timeout_ms without a byte) just before those stream offsets.
# portable: the bytecode fallback bridge.py loads where native code cannot.
import sys
import json
import gc
import micropython

import obis

if "portable" in sys.argv[3:]:
    import p1reader_portable as p1reader
    from snapshot_portable import Snapshot
else:
    import p1reader
    from snapshot import Snapshot

path = sys.argv[1]
seed = int(sys.argv[2])
with_log = "log" in sys.argv[3:]
silence = []
for a in sys.argv[3:]:
    if a.startswith("silence="):
        silence = [int(x) for x in a[8:].split(",")]
data = open(path, "rb").read()
snap = Snapshot()
logs = []
r = p1reader.P1Reader(snap, log=logs.append if with_log else None)
buf = bytearray(257)
x = seed or 1
pos = 0
gc.collect()
free0 = gc.mem_free()
while pos < len(data):
    x = (x * 1103515245 + 12345) & 0x3FFFFFFF  # LCG: chunk sizes 1..257, like UART reads
    n = min(1 + x % 257, len(data) - pos)
    for s in silence:
        if pos == s:
            r.expire()
        elif pos < s < pos + n:
            n = s - pos  # end this chunk where the line goes silent
    buf[0:n] = data[pos:pos + n]
    if not with_log:
        micropython.heap_lock()
    try:
        r.feed(buf, n)
    finally:
        if not with_log:
            micropython.heap_unlock()
    pos += n
vals = {}
for i in range(obis.COUNT):
    v = snap.value(i)
    if v is not None:
        vals[obis.NAMES[i].decode()] = v.decode()
print(json.dumps({"counters": r.counters(), "commits": snap.commits, "superseded": snap.superseded,
                  "values": vals, "log": logs}))
