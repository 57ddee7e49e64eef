"""Record telegrams from a real meter's P1 port through a USB-UART adapter.

Wiring: the meter's data line is inverted open-collector; the adapter circuit of
docs/circuit (or an adapter with RX inversion) gives the USB-UART plain
115200 8N1. Data Request (RJ12 pin 2) must be held high or the meter is silent.

Bytes are framed by :class:`Framer` exactly as :func:`hil.p1.framing.split_telegrams`
frames a whole stream ('/' at a line start through the LF after '!CRC'), but
incrementally, so every telegram is written to the output file the moment its
last byte arrives (write, flush, fsync). Stopping (count reached, Ctrl-C, a stop
event) loses nothing that was complete; an incomplete telegram at the end is
reported, never written. Telegrams are kept byte-exact as received, a bad CRC
included (reported); ``anonymiser`` rewrites identifiers on the way.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import framing as p1

__all__ = ["RecordError", "Framer", "Recorded", "RecordResult", "record", "open_port"]

MAX_TELEGRAM = 64 * 1024  # a frame longer than this is noise, not a telegram: resync
IDLE_WARNING_S = 15.0  # a meter sends every 10 s (DSMR 5); silence longer than this is worth a hint


class RecordError(Exception):
    """Recording cannot start or continue (port, output file)."""


class Framer:
    """Incremental P1 framing over a byte stream.

    ``feed(data)`` returns the telegrams completed by ``data``. ``partial`` is the
    incomplete telegram being received, ``skipped`` the bytes dropped outside
    telegrams (before a header, or a frame cut by a new header or too long).
    """

    def __init__(self, max_size: int = MAX_TELEGRAM):
        self.max_size = max_size
        self.partial = bytearray()
        self.skipped = 0
        self.resyncs = 0  # frames abandoned for a new header or for length
        self._in_frame = False
        self._at_line_start = True  # the stream's first byte counts as a line start
        self._line_start = 0  # offset in partial of the current line
        self._in_crc_line = False

    def feed(self, data: bytes) -> list[bytes]:
        done = []
        for byte in data:
            line_start = self._at_line_start
            self._at_line_start = byte == 0x0A
            if not self._in_frame:
                if byte == 0x2F and line_start:  # '/'
                    self._in_frame = True
                    self.partial = bytearray(b"/")
                    self._line_start = 0
                    self._in_crc_line = False
                else:
                    self.skipped += 1
                continue
            if line_start and byte == 0x2F and not self._in_crc_line:  # a new header: meter restarted
                self.skipped += len(self.partial)
                self.resyncs += 1
                self.partial = bytearray(b"/")
                self._line_start = 0
                continue
            if line_start:
                self._line_start = len(self.partial)
                if byte == 0x21:  # '!'
                    self._in_crc_line = True
            self.partial.append(byte)
            if self._in_crc_line and byte == 0x0A:
                done.append(bytes(self.partial))
                self.partial = bytearray()
                self._in_frame = False
                self._in_crc_line = False
            elif len(self.partial) > self.max_size:
                self.skipped += len(self.partial)
                self.resyncs += 1
                self.partial = bytearray()
                self._in_frame = False
        return done


@dataclass(frozen=True)
class Recorded:
    """One telegram as written to the output file."""
    number: int
    data: bytes  # as written (anonymised if asked)
    crc_ok: bool
    received_at: float  # time.monotonic()


@dataclass
class RecordResult:
    path: Path
    telegrams: list[Recorded] = field(default_factory=list)
    partial: bytes = b""  # incomplete telegram at the end, not written
    skipped: int = 0  # bytes outside telegrams, not written
    interrupted: bool = False  # stopped by Ctrl-C / the stop event before `count`

    @property
    def bad_crc(self) -> int:
        return sum(1 for t in self.telegrams if not t.crc_ok)


def open_port(port: str, baud: int = 115200):
    """The USB-UART adapter as a pyserial port, 8N1, with stale input dropped."""
    import serial  # pyserial: imported here so framing works without it

    try:
        ser = serial.Serial(port, baudrate=baud, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                            stopbits=serial.STOPBITS_ONE, timeout=0.1, exclusive=True)
    except (serial.SerialException, OSError) as e:
        raise RecordError(f"cannot open {port}: {e}. Is the adapter plugged in and no other program "
                          "(miniterm, mpremote) holding the port?") from e
    ser.reset_input_buffer()  # bytes queued before we listened belong to no one
    return ser


def _write_all(fh, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


def record(stream, out: Path, *, count: int | None = None, anonymiser=None,
           stop: threading.Event | None = None,
           on_telegram: Callable[[Recorded], None] | None = None,
           on_bytes: Callable[[int], None] | None = None,
           on_idle: Callable[[float], None] | None = None,
           chunk: int = 4096) -> RecordResult:
    """Read ``stream`` (anything with ``read(n)`` returning b'' on timeout) into ``out``.

    Stops after ``count`` telegrams (None: never), when ``stop`` is set, at the
    end of the stream (``read`` raising OSError/EOFError, e.g. the adapter
    unplugged), or on KeyboardInterrupt, which is caught: the result then has
    ``interrupted`` set and the file holds every complete telegram.
    ``out`` must not exist (never overwrite a recording).
    """
    out = Path(out)
    try:
        fh = open(out, "xb", buffering=0)
    except FileExistsError as e:
        raise RecordError(f"{out} exists; refusing to overwrite a recording (choose another --out)") from e
    result = RecordResult(out)
    framer = Framer()
    last_data = time.monotonic()
    warned = False
    try:
        while count is None or len(result.telegrams) < count:
            if stop is not None and stop.is_set():
                result.interrupted = True
                break
            try:
                data = stream.read(chunk)
            except (OSError, EOFError):
                result.interrupted = True
                break
            now = time.monotonic()
            if not data:
                if on_idle and not warned and now - last_data > IDLE_WARNING_S:
                    warned = True
                    on_idle(now - last_data)
                continue
            last_data, warned = now, False
            if on_bytes:
                on_bytes(len(data))
            for telegram in framer.feed(data):
                crc_ok = p1.telegram_crc_ok(telegram)
                if anonymiser is not None:
                    telegram = anonymiser.telegram(telegram)
                    anonymiser.check(telegram)
                _write_all(fh, telegram)
                os.fsync(fh.fileno())
                item = Recorded(len(result.telegrams) + 1, telegram, crc_ok, now)
                result.telegrams.append(item)
                if on_telegram:
                    on_telegram(item)
                if count is not None and len(result.telegrams) >= count:
                    break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        fh.close()
        result.partial = bytes(framer.partial)
        result.skipped = framer.skipped
    return result
