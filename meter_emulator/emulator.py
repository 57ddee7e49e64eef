"""P1 meter emulator: replays captured telegrams on UART1 TX (GPIO2/D4).

A meter sends 115200 8N1 with inverted logic; the emulator does the same by
setting UART_TXD_INV in UART1 CONF0 (the ESP8266 port has no `invert`
argument, and UART init rewrites CONF0, so the bit is set after every init and
read back). Telegrams stream from flash in small chunks; faults a real
installation sees are applied on the way, byte-exact and reported.
"""
import asyncio
import os
import time

from machine import UART, freq, mem32
from micropython import const

VERSION = "0.2.0"
_UART1_CONF0 = const(0x60000F20)
_UART_TXD_INV = const(1 << 22)
_CHUNK = const(256)
_RECORDS = const(32)


class Faults:
    """Faults armed for the next telegram (one shot)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.corrupt_at = -1
        self.corrupt_xor = 1
        self.truncate_at = -1
        self.drop_crc = False
        self.noise = 0
        self.pause_at = -1
        self.pause_ms = 0

    def armed(self):
        out = []
        if self.corrupt_at >= 0:
            out.append("corrupt=%d:%d" % (self.corrupt_at, self.corrupt_xor))
        if self.truncate_at >= 0:
            out.append("truncate=%d" % self.truncate_at)
        if self.drop_crc:
            out.append("nocrc")
        if self.noise:
            out.append("noise=%d" % self.noise)
        if self.pause_at >= 0:
            out.append("pause=%d:%d" % (self.pause_at, self.pause_ms))
        return out


class Emulator:
    def __init__(self, baudrate=115200, inverted=True):
        self.telegrams = 0
        self.bytes = 0
        self.sending = False
        self.faults = Faults()
        self.records = []  # [seq, first byte ticks_ms, last byte ticks_ms, bytes]
        # 160 MHz: at 80 the chip's work between two telegrams (the record, its
        # JSON line, opening the file again) left the line idle a fifth of the
        # time when telegrams are played back to back.
        freq(160000000)
        self._buf = bytearray(_CHUNK)
        self._seed = 0x2545F491
        self.configure(baudrate, inverted)

    def configure(self, baudrate=115200, inverted=True):
        self.uart = UART(1, baudrate)
        self.baudrate = baudrate
        self.set_inverted(inverted)

    def set_inverted(self, inverted):
        conf0 = mem32[_UART1_CONF0]
        conf0 = conf0 | _UART_TXD_INV if inverted else conf0 & ~_UART_TXD_INV
        mem32[_UART1_CONF0] = conf0
        if bool(mem32[_UART1_CONF0] & _UART_TXD_INV) != bool(inverted):
            raise OSError("UART1 CONF0 inversion bit did not stick")
        self.inverted = bool(inverted)

    def _noise(self, n):
        # xorshift: noise without allocating a random module's state
        mv = memoryview(self._buf)
        while n > 0:
            k = min(n, _CHUNK)
            for i in range(k):
                x = self._seed
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                self._seed = x
                mv[i] = x & 0xFF
            self.uart.write(mv[:k])
            n -= k

    async def send(self, path, offset=0, drain=True):
        """Stream the telegram at `offset` of a capture file (one telegram or a
        recorded sequence) with the armed faults. Returns its record, the
        faults applied, and the offset of the next telegram (0: end of file).
        drain: wait until the last byte has left the UART (the record's end);
        False for telegrams back to back, where the next one's bytes must
        follow while the UART's 128-byte FIFO still sends this one's last."""
        f = self.faults
        applied = f.armed()
        if f.noise:
            self._noise(f.noise)
        mv = memoryview(self._buf)
        pos = 0  # bytes of this telegram read from the file
        sent = 0  # bytes put on the line
        bang = done = muted = False
        self.sending = True
        start = time.ticks_ms()
        with open(path, "rb") as fh:
            fh.seek(offset)
            while not done:
                n = fh.readinto(self._buf)
                if not n:
                    break
                chunk = bytes(mv[:n])
                here = -1
                if not bang:
                    here = chunk.find(b"!")
                    bang = here >= 0
                end = n
                if bang:
                    lf = chunk.find(b"\n", max(here, 0))
                    if lf >= 0:
                        end, done = lf + 1, True
                hi, tail = (0 if muted else end), b""
                if 0 <= f.truncate_at < pos + hi:
                    hi, muted = max(0, f.truncate_at - pos), True
                if f.drop_crc and 0 <= here < hi:
                    # The end line without its CRC digits; the rest is not sent.
                    hi, tail, muted = here + 1, b"\r\n", True
                if pos <= f.corrupt_at < pos + hi:
                    mv[f.corrupt_at - pos] ^= f.corrupt_xor
                if hi and pos <= f.pause_at < pos + hi:
                    cut = f.pause_at - pos
                    self.uart.write(mv[:cut])
                    self.uart.flush()
                    await asyncio.sleep_ms(f.pause_ms)
                    self.uart.write(mv[cut:hi])
                elif hi:
                    self.uart.write(mv[:hi])
                if tail:
                    self.uart.write(tail)
                sent += hi + len(tail)
                pos += end
                await asyncio.sleep_ms(0)
            size = fh.seek(0, 2)
        if drain:
            self.uart.flush()
        last = time.ticks_ms()
        self.sending = False
        f.clear()
        self.telegrams += 1
        self.bytes += sent
        record = [self.telegrams, start, last, sent]
        self.records.append(record)
        if len(self.records) > _RECORDS:
            self.records.pop(0)
        nxt = offset + pos
        return record, applied, (nxt if nxt < size else 0)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False
