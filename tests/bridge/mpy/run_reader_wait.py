# P1Reader.run on a test stream that counts the reader's readinto calls, to see
# whether the reader polls or waits. Prints one JSON line.
# usage: run_reader_wait.py <telegram file> <idle_ms> <silence_ms> [portable]
#   1. the stream is quiet for idle_ms: readinto calls meanwhile (a reader
#      polling every 10 ms makes ~idle_ms/10, one that waits 1);
#   2. the telegram arrives in one piece: it must be read and committed;
#   3. a whole telegram at once: the reader must take it all in one turn;
#   4. the first half of it arrives, then nothing for silence_ms: the reader
#      must expire() the telegram by itself (truncated) after its timeout.
import sys
import io
import json
import time
import asyncio

if "portable" in sys.argv[4:]:
    import p1reader_portable as p1reader
    from snapshot_portable import Snapshot
else:
    import p1reader
    from snapshot import Snapshot

_POLL = 3  # MP_STREAM_POLL
_RD = 1  # MP_STREAM_POLL_RD


class Line(io.IOBase):
    """A non-blocking stream: readinto gives what put() queued, or None."""

    def __init__(self):
        self.data = b""
        self.reads = 0

    def put(self, b):
        self.data += b

    def readinto(self, buf):
        self.reads += 1
        if not self.data:
            return None
        n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n

    def ioctl(self, req, arg):
        if req == _POLL:
            return _RD if (arg & _RD) and self.data else 0
        # -1 (MP_STREAM_ERROR) to MP_STREAM_GET_FILENO too: no file descriptor,
        # so select.poll asks ioctl (0 would be fd 0, stdin, readable at EOF).
        return -1


telegram = open(sys.argv[1], "rb").read()
idle_ms = int(sys.argv[2])
silence_ms = int(sys.argv[3])
out = {}


async def main():
    line = Line()
    snap = Snapshot()
    r = p1reader.P1Reader(snap, timeout_ms=silence_ms // 2)
    task = asyncio.create_task(r.run(line))
    await asyncio.sleep_ms(idle_ms)
    out["idle_reads"] = line.reads
    line.put(telegram)
    t0 = time.ticks_ms()
    while r.telegrams_ok == 0 and time.ticks_diff(time.ticks_ms(), t0) < 2000:
        await asyncio.sleep_ms(5)  # the test's own clock: the reader has no event to give
    out["ok_after_idle"] = r.telegrams_ok
    # 3. a whole telegram waits at once (a full UART ring, as after a long turn
    #    of the other tasks): how much is left after the reader's next turn.
    await asyncio.sleep_ms(50)  # the reader back at its wait
    line.put(telegram)
    for _ in range(3):  # the reader's wake-up is queued behind this task's own
        await asyncio.sleep_ms(0)
    out["left_after_a_turn"] = len(line.data)
    out["ok_after_a_turn"] = r.telegrams_ok
    line.put(telegram[:len(telegram) // 2])
    await asyncio.sleep_ms(silence_ms)
    out["truncated"] = r.truncated
    out["in_telegram"] = r.in_telegram()
    task.cancel()


asyncio.run(main())
print(json.dumps(out))
