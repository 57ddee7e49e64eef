"""The emulator's command protocol on its USB serial port (see PROTOCOL.md).

One command per line in, one `@`-prefixed JSON line out per command, plus
`@` event lines while playing. A bad command gets an error reply and changes
nothing; playing goes on meanwhile.
"""
import asyncio
import json
import select
import sys
import time

from micropython import const

import emulator

PROTOCOL = 1
# Bytes in a command line, its line end not counted. A line and its CR LF fit the
# ESP8266's 256-byte stdin ring, so none of it is lost while the loop is busy
# (writing a chunk to UART1 blocks it: 22 ms at 115200 baud, 270 ms at 9600).
MAX_LINE = const(200)
IDLE_MS = const(2000)  # a line that gets no byte for this long is dropped
_SHOWN = const(32)  # bytes of a dropped line quoted in its error


class CommandError(Exception):
    pass


def _reply(obj):
    sys.stdout.write("@" + json.dumps(obj) + "\n")


def _split2(text, sep):
    # str.partition is not in the ESP8266 build (MICROPY_PY_BUILTINS_STR_PARTITION=0).
    i = text.find(sep)
    return (text, None) if i < 0 else (text[:i], text[i + len(sep):])


def _args(words):
    out = {}
    for w in words:
        key, value = _split2(w, "=")
        out[key] = True if value is None else value
    return out


def _int(args, key, default, lo, hi):
    if key not in args:
        return default
    if args[key] is True:
        raise CommandError("%s needs a value: %s=N" % (key, key))
    try:
        value = int(args[key])
    except ValueError:
        raise CommandError("%s must be an integer, not %r" % (key, args[key]))
    if not lo <= value <= hi:
        raise CommandError("%s must be in %d..%d, got %d" % (key, lo, hi, value))
    return value


def _pair(text, what):
    if text is True:
        raise CommandError("%s needs a value: %s=N or %s=N:M" % (what, what, what))
    a, b = _split2(text, ":")
    try:
        return int(a), (int(b) if b is not None else None)
    except ValueError:
        raise CommandError("%s wants N or N:M with integers, not %r" % (what, text))


class Server:
    def __init__(self, emu):
        self.emu = emu
        self.player = None
        self.playing = None  # dict describing what plays
        self._stop = False

    def status(self):
        e = self.emu
        return {"ok": True, "playing": self.playing, "telegrams": e.telegrams, "bytes": e.bytes,
                "baud": e.baudrate, "inverted": e.inverted, "armed": e.faults.armed(),
                "protocol": PROTOCOL, "firmware": emulator.VERSION}

    def handle(self, line):
        words = line.split()
        if not words:
            return None
        cmd, args = words[0], _args(words[1:])
        if cmd == "version":
            return {"ok": True, "protocol": PROTOCOL, "firmware": emulator.VERSION}
        if cmd == "status":
            return self.status()
        if cmd == "timing":
            return {"ok": True, "records": self.emu.records}
        if cmd == "play":
            return self._play(words[1:], args)
        if cmd == "stop":
            was = self.playing is not None
            self._stop = True
            if was and not self.emu.sending:
                self.player.cancel()  # waiting for the next slot: stop now
            return {"ok": True, "stopping": was}
        if cmd == "line":
            return self._line(args)
        if cmd == "fault":
            return self._fault(args)
        if cmd == "help":
            return {"ok": True, "commands": ["version", "status", "timing", "play FILE[,FILE] [interval_ms=N] [count=N]",
                                             "stop", "line [baud=N] [invert=0|1]",
                                             "fault corrupt=N[:XOR] | truncate=N | nocrc | noise=N | pause=N:MS | clear"]}
        raise CommandError("unknown command %r; send 'help'" % cmd)

    def _play(self, words, args):
        if self.playing is not None:
            raise CommandError("already playing %s; send 'stop' first" % self.playing["files"])
        if not words or "=" in words[0]:
            raise CommandError("play needs a file: play FILE[,FILE...] [interval_ms=N] [count=N]")
        files = words[0].split(",")
        for path in files:
            if not emulator.exists(path):
                raise CommandError("no such file on the emulator: %r" % path)
        interval = _int(args, "interval_ms", 10000, 0, 3600000)
        count = _int(args, "count", 1, 0, 10000000)
        unknown = [k for k in args if k not in ("interval_ms", "count") and k != words[0]]
        if unknown:
            raise CommandError("play: unknown option(s) %s" % unknown)
        self.playing = {"files": files, "interval_ms": interval, "count": count, "round": 0}
        self._stop = False
        self.player = asyncio.create_task(self._run(files, interval, count))
        return {"ok": True, "playing": self.playing}

    async def _run(self, files, interval, count):
        due = time.ticks_ms()
        rounds = 0
        try:
            while (count == 0 or rounds < count) and not self._stop:
                for path in files:
                    offset = 0
                    while not self._stop:
                        if interval:
                            # A fixed schedule: start times do not drift with send time.
                            wait = time.ticks_diff(due, time.ticks_ms())
                            if wait > 0:
                                await asyncio.sleep_ms(wait)
                            due = time.ticks_add(due, interval)
                        at = offset
                        record, faults, offset = await self.emu.send(path, offset, drain=interval != 0)
                        _reply({"event": "sent", "seq": record[0], "start": record[1], "end": record[2],
                                "bytes": record[3], "file": path, "offset": at, "faults": faults})
                        if not offset:
                            break
                rounds += 1
                self.playing["round"] = rounds
        finally:
            self.playing = None
            self.emu.uart.flush()  # back to back the last bytes may still be in the FIFO: "done" is after them
            _reply({"event": "done", "telegrams": self.emu.telegrams, "bytes": self.emu.bytes})

    def _line(self, args):
        unknown = [k for k in args if k not in ("baud", "invert")]
        if unknown:
            raise CommandError("line: unknown option(s) %s" % unknown)
        baud = _int(args, "baud", self.emu.baudrate, 300, 921600)
        invert = _int(args, "invert", int(self.emu.inverted), 0, 1)
        self.emu.configure(baud, bool(invert))
        return {"ok": True, "baud": self.emu.baudrate, "inverted": self.emu.inverted}

    def _fault(self, args):
        f = self.emu.faults
        if "clear" in args:
            f.clear()
            return {"ok": True, "armed": []}
        # Validate everything before arming anything: a bad command changes nothing.
        plan = {}
        for key, value in args.items():
            if key == "corrupt":
                at, xor = _pair(value, key)
                if at < 0 or not 0 < (xor or 1) < 256:
                    raise CommandError("corrupt wants BYTE_INDEX[:XOR] with XOR 1..255")
                plan[key] = (at, xor or 1)
            elif key in ("truncate", "noise"):
                plan[key] = _int(args, key, 0, 0, 1000000)
            elif key == "nocrc":
                plan[key] = True
            elif key == "pause":
                at, ms = _pair(value, key)
                if at < 0 or ms is None or not 0 <= ms <= 600000:
                    raise CommandError("pause wants BYTE_INDEX:MS with MS 0..600000")
                plan[key] = (at, ms)
            else:
                raise CommandError("unknown fault %r; faults: corrupt, truncate, nocrc, noise, pause, clear" % key)
        if not plan:
            raise CommandError("fault needs one of corrupt=N[:XOR] truncate=N nocrc noise=N pause=N:MS clear")
        if "corrupt" in plan:
            f.corrupt_at, f.corrupt_xor = plan["corrupt"]
        if "truncate" in plan:
            f.truncate_at = plan["truncate"]
        if "nocrc" in plan:
            f.drop_crc = True
        if "noise" in plan:
            f.noise = plan["noise"]
        if "pause" in plan:
            f.pause_at, f.pause_ms = plan["pause"]
        return {"ok": True, "armed": f.armed()}


class _Lines:
    """Command lines from the USB serial port, read without ever blocking the
    loop: a byte is read only when the port has one (sys.stdin's readline
    waits inside for its newline, and every task with it). A line holds at
    most MAX_LINE bytes; the bytes of a longer one are counted, not kept. A
    line ends at CR or LF, or, rejected, when IDLE_MS pass without a byte."""

    def __init__(self, stream):
        self.stream = stream
        self.reader = asyncio.StreamReader(stream)
        self.poller = select.poll()
        self.poller.register(stream, select.POLLIN)
        self.buf = bytearray(MAX_LINE)
        self.one = bytearray(1)
        self.n = 0  # bytes of the line so far, dropped ones included
        self.last = 0  # ticks_ms of its last byte

    def _ready(self):
        for _ in self.poller.ipoll(0):  # ipoll: no list on the heap
            return True
        return False

    def _feed(self, c):
        """Take one byte; the line's bytes when it ends, else None."""
        if c == 10 or c == 13:
            n, self.n = self.n, 0
            if n > MAX_LINE:
                raise CommandError("line of %d bytes is too long (at most %d): dropped" % (n, MAX_LINE))
            return bytes(self.buf[:n]) if n else None  # an empty line (CR LF's LF) is no command
        if self.n < MAX_LINE:
            self.buf[self.n] = c
        self.n += 1
        self.last = time.ticks_ms()
        return None

    def _stale(self):
        n, self.n = self.n, 0
        if n > MAX_LINE:
            return CommandError("line of %d bytes is too long (at most %d) and got no newline within %d ms: "
                                "dropped" % (n, MAX_LINE, IDLE_MS))
        return CommandError("no newline within %d ms after %r: incomplete line dropped; end each command "
                            "with a newline" % (IDLE_MS, bytes(self.buf[:min(n, _SHOWN)])))

    async def next(self):
        """The next line's bytes; None at the end of input. A line too long or
        left without a newline raises CommandError (its one reply)."""
        while True:
            if not self._ready():
                if not self.n:
                    b = await self.reader.read(1)  # nothing pending: wait for a byte
                else:
                    wait = time.ticks_diff(time.ticks_add(self.last, IDLE_MS), time.ticks_ms())
                    try:
                        if wait <= 0:
                            raise asyncio.TimeoutError
                        b = await asyncio.wait_for_ms(self.reader.read(1), wait)
                    except asyncio.TimeoutError:
                        raise self._stale()
                if not b:
                    return None
                line = self._feed(b[0])
                if line is not None:
                    return line
            # What the port holds, without waiting; a bounded amount per turn,
            # so that a flood of bytes does not stop playing.
            for _ in range(MAX_LINE):
                if not self._ready():
                    break
                if not self.stream.readinto(self.one):
                    return None
                line = self._feed(self.one[0])
                if line is not None:
                    return line
            else:
                await asyncio.sleep_ms(0)


async def _serve(server):
    lines = _Lines(getattr(sys.stdin, "buffer", sys.stdin))  # bytes: no CR to LF, no UTF-8 waits
    _reply({"event": "ready", "protocol": PROTOCOL, "firmware": emulator.VERSION})
    while True:
        try:
            line = await lines.next()
            if line is None:
                return
            try:
                text = line.decode()
            except UnicodeError:
                raise CommandError("line is not UTF-8 text: %r" % line[:_SHOWN])
            reply = server.handle(text.strip())
        except CommandError as e:
            reply = {"ok": False, "error": str(e)}
        except Exception as e:  # noqa: B902 - a command must never take the emulator down
            reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        if reply is not None:
            _reply(reply)
        await asyncio.sleep_ms(0)  # commands back to back do not stop playing


_server = None


def serve():
    """Run the command loop until Ctrl-C (the host's way back to the REPL)."""
    global _server
    if _server is None:
        _server = Server(emulator.Emulator())
    try:
        asyncio.run(_serve(_server))
    finally:
        _server.playing = None
        asyncio.new_event_loop()
