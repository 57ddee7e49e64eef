"""P1 meter emulator: replays captured telegrams on UART1 TX (GPIO2/D4).

A meter sends 115200 8N1 with inverted logic; the emulator does the same by
setting UART_TXD_INV in UART1 CONF0 (the ESP8266 port has no `invert`
argument). The host drives it through the raw REPL: `play()` runs until its
count is done or the host sends Ctrl-C, and prints one timing record per
telegram so the host can measure latency without trusting the bridge.
"""
import time

from machine import UART, mem32
from micropython import const

VERSION = "0.1.0"
_UART1_CONF0 = const(0x60000F20)
_UART_TXD_INV = const(1 << 22)
_CHUNK = const(256)


class Emulator:
    def __init__(self, baudrate=115200, inverted=True):
        self.sent_telegrams = 0
        self.sent_bytes = 0
        self._buf = bytearray(_CHUNK)
        self.configure(baudrate, inverted)

    def configure(self, baudrate=115200, inverted=True):
        # UART init rewrites CONF0, so the inversion bit is set afterwards.
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

    def send_file(self, path):
        """Stream one capture file to the line; returns (start, end, bytes)."""
        mv = memoryview(self._buf)
        total = 0
        start = time.ticks_ms()
        with open(path, "rb") as f:
            while True:
                n = f.readinto(self._buf)
                if not n:
                    break
                self.uart.write(mv[:n])
                total += n
        self.uart.flush()
        end = time.ticks_ms()
        self.sent_telegrams += 1
        self.sent_bytes += total
        return start, end, total

    def play(self, paths, interval_ms=10000, count=1):
        """Send each file in `paths` in turn, one every `interval_ms` (0: back
        to back), `count` rounds (0: until Ctrl-C). Start times follow a fixed
        schedule so they do not drift with the time spent sending."""
        if isinstance(paths, str):
            paths = [paths]
        due = time.ticks_ms()
        rounds = 0
        while count == 0 or rounds < count:
            for path in paths:
                if interval_ms:
                    wait = time.ticks_diff(due, time.ticks_ms())
                    if wait > 0:
                        time.sleep_ms(wait)
                    due = time.ticks_add(due, interval_ms)
                start, end, n = self.send_file(path)
                print("T", self.sent_telegrams, start, end, n, path)
            rounds += 1
        print("DONE", self.sent_telegrams, self.sent_bytes)

    def status(self):
        return {"version": VERSION, "baudrate": self.baudrate, "inverted": self.inverted,
                "telegrams": self.sent_telegrams, "bytes": self.sent_bytes}


_emulator = None


def get():
    """The board's one emulator, created on first use."""
    global _emulator
    if _emulator is None:
        _emulator = Emulator()
    return _emulator
