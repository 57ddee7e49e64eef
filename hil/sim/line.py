"""Bit-level model of the P1 line: emulator UART1 TX → adapter → bridge UART0 RX.

Bytes become line levels (start bit, 8 data bits LSB first, stop bit) at the
transmitter's baud and polarity, pass the adapter (an inverting transistor
stage, or a fault), and are decoded by a receiver that samples mid-bit at its
own baud and polarity. Wrong polarity or baud therefore yields the garbled bytes
and framing errors a real wire gives. Levels are kept as byte strings of b"0"/b"1"
at a fixed sample rate so that decoding is a few `find` calls per byte.
Written by hand: no library models a UART at bit level.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

SAMPLE_RATE = 115200 * 16  # samples per second of line time
MARK, SPACE = b"1", b"0"
_INVERT = bytes.maketrans(b"01", b"10")

ADAPTER_MODES = ("ok", "missing", "stuck_low", "stuck_high")


def frame_levels(value: int, start: float, spb: float) -> tuple[bytes, float]:
    """Levels of one 8N1 frame beginning `start` samples into the current
    sample, and the fractional remainder where the next frame may begin."""
    bits = [0] + [(value >> k) & 1 for k in range(8)] + [1]
    out = bytearray()
    for k, bit in enumerate(bits):
        n = round(start + (k + 1) * spb) - round(start + k * spb)
        out += (MARK if bit else SPACE) * n
    end = start + 10 * spb
    return bytes(out), end - round(end)


class UartReceiver:
    """A UART RX: waits for mark (idle), then for a start edge, samples each bit
    at its middle at its own baud; a space where the stop bit should be is a
    framing error, after which it waits for mark again (as after a break)."""

    def __init__(self, baud: int, invert: bool = False):
        self.baud = baud
        self.invert = invert
        self.spb = SAMPLE_RATE / baud
        self._buf = b""
        self._need_mark = True
        self.framing_errors = 0
        self.bytes_decoded = 0

    def feed(self, levels: bytes) -> bytes:
        if self.invert:
            levels = levels.translate(_INVERT)
        buf = self._buf + levels if self._buf else levels
        spb = self.spb
        offsets = [int((k + 0.5) * spb) for k in range(10)]
        need = offsets[9] + 1
        out = bytearray()
        pos = 0
        n = len(buf)
        while True:
            if self._need_mark:
                i = buf.find(MARK, pos)
                if i < 0:
                    pos = n
                    break
                pos = i
                self._need_mark = False
            i = buf.find(SPACE, pos)
            if i < 0:
                pos = n
                break
            if i + need > n:
                pos = i
                break
            if buf[i + offsets[0]] != 0x30:  # glitch shorter than half a bit
                pos = i + 1
                continue
            value = 0
            for k in range(8):
                if buf[i + offsets[k + 1]] == 0x31:
                    value |= 1 << k
            out.append(value)
            pos = i + offsets[9]
            if buf[pos] != 0x31:
                self.framing_errors += 1
                self._need_mark = True
        # Keep only what the next frame can still need; idle line is dropped.
        self._buf = buf[pos:] if pos < n else b""
        self.bytes_decoded += len(out)
        return bytes(out)


@dataclass
class TxConfig:
    baud: int = 115200
    invert: bool = False  # UART1 CONF0 UART_TXD_INV, as the emulator set it


BURST_GAP = SAMPLE_RATE // 500  # 2 ms of idle line ends a burst


def telegram_spans(bursts: list, sizes: list[int]) -> list[tuple] | None:
    """(first byte, last byte) on the line of each of the last len(sizes)
    telegrams (of `sizes` bytes, in order), from the line's bursts
    ([start, end, bytes], oldest first).

    A telegram is one burst or several: a transmitter that pauses more than
    BURST_GAP mid-telegram (a busy host scheduling the emulator late) splits
    it. None when the bursts do not add up to the telegrams' sizes, e.g. when
    back-to-back telegrams ran into one burst."""
    spans = []
    i = len(bursts) - 1
    for size in reversed(sizes):
        if i < 0:
            return None
        end, left = bursts[i][1], size
        while left > 0 and i >= 0:
            left -= bursts[i][2]
            i -= 1
        if left != 0:
            return None
        spans.append((bursts[i + 1][0], end))
    return spans[::-1]


@dataclass
class LineCounters:
    """The line model's running counters, in the rig's own process; the host
    reads them as hil.sim.handle.LineStats."""
    bytes_sent: int = 0
    bytes_received: int = 0
    framing_errors: int = 0
    busy_samples: int = 0
    # [start sample, end sample, bytes] of recent bursts, oldest first
    bursts: deque = field(default_factory=lambda: deque(maxlen=2000))


@dataclass
class P1Line:
    """One transmitter driving one receiver through the adapter.

    `advance(now)` moves line time forward to sample `now`: queued bytes go out
    back to back, none before the time it was queued; otherwise the line idles.
    Returns the bytes the receiver decoded and how many bytes left the
    transmitter (its FIFO acknowledgement).
    """

    tx: TxConfig = field(default_factory=TxConfig)
    rx_baud: int = 115200
    rx_invert: bool = False  # UART0 CONF0 UART_RXD_INV on the bridge
    adapter: str = "ok"
    # Delay from a TX edge to the RX pin crossing the logic threshold, for RX
    # rising and falling edges (the adapter's R·C; docs/circuit's SPICE check).
    # Unequal delays stretch one level and shrink the other: pulse-width
    # distortion, which past about half a bit gives bit errors, as on the bench.
    rise_delay_s: float = 0.0
    fall_delay_s: float = 0.0
    stats: LineCounters = field(default_factory=LineCounters)

    def __post_init__(self):
        self._chunks: deque[list] = deque()  # [bytearray, queued_at sample]
        self._time = 0  # samples of line time already generated
        self._frac = 0.0
        self._receiver = UartReceiver(self.rx_baud, self.rx_invert)
        # A USB-UART adapter listening on the adapter's output (115200 8N1),
        # as a user records a real meter: what `hil capture` reads.
        self._tap = UartReceiver(115200)
        self._carry = 0
        self.tapped = b""

    def configure_rx(self, baud: int, invert: bool) -> None:
        if (baud, invert) != (self._receiver.baud, self._receiver.invert):
            self._receiver = UartReceiver(baud, invert)
            self.rx_baud, self.rx_invert = baud, invert

    def queue(self, data: bytes, at: int) -> None:
        self._chunks.append([bytearray(data), at])

    def _note_burst(self, start: int, end: int) -> None:
        bursts = self.stats.bursts
        if bursts and start - bursts[-1][1] <= BURST_GAP:
            bursts[-1][1] = end
            bursts[-1][2] += 1
        else:
            bursts.append([start, end, 1])

    def _wire(self, tx_levels: bytes) -> bytes:
        """TX pin levels → levels at the bridge's RX pin."""
        if self.adapter in ("missing", "stuck_high"):
            return MARK * len(tx_levels)
        if self.adapter == "stuck_low":
            return SPACE * len(tx_levels)
        # The meter (and so the emulator) sends inverted; the adapter inverts back.
        wire = tx_levels.translate(_INVERT) if self.tx.invert else tx_levels
        return self._edges(wire.translate(_INVERT))

    def _edges(self, levels: bytes) -> bytes:
        """Shift each edge by its threshold-crossing delay (in whole samples)."""
        shift = round((self.fall_delay_s - self.rise_delay_s) * SAMPLE_RATE)
        if not shift and not self._carry:
            return levels
        out = bytearray()
        # Runs of equal level; a mark run gains `shift` samples, a space run loses them.
        pos, n = 0, len(levels)
        carry = self._carry
        while pos < n:
            level = levels[pos:pos + 1]
            end = levels.find(SPACE if level == MARK else MARK, pos)
            end = n if end < 0 else end
            length = end - pos + carry
            carry = 0
            if end < n:  # a complete run: its far edge is known
                length += shift if level == MARK else -shift
                if length < 0:
                    carry = length  # the pulse vanished; eat into the next run
                    length = 0
            out += level * length
            pos = end
        self._carry = carry
        return bytes(out)

    def advance(self, now: int) -> tuple[bytes, int]:
        spb = SAMPLE_RATE / self.tx.baud
        levels = bytearray()
        sent = 0
        t = self._time
        while self._chunks:
            chunk = self._chunks[0]
            if chunk[1] > t:
                if chunk[1] >= now:
                    break
                levels += MARK * (chunk[1] - t)
                t = chunk[1]
                self._frac = 0.0
            frame, frac = _frame(chunk[0][0], self._frac, spb)
            if t + len(frame) > now:
                break
            self._note_burst(t, t + len(frame))
            levels += frame
            t += len(frame)
            self._frac = frac
            del chunk[0][0]
            if not chunk[0]:
                self._chunks.popleft()
            sent += 1
            self.stats.busy_samples += len(frame)
        if not self._chunks and now > t:
            levels += MARK * (now - t)
            t = now
        self._time = t
        self.stats.bytes_sent += sent
        wire = self._wire(bytes(levels)) if levels else b""
        decoded = self._receiver.feed(wire) if wire else b""
        self.tapped = self._tap.feed(wire) if wire else b""
        self.stats.bytes_received += len(decoded)
        self.stats.framing_errors = self._receiver.framing_errors
        return decoded, sent


@lru_cache(maxsize=4096)
def _frame(value: int, start: float, spb: float) -> tuple[bytes, float]:
    return frame_levels(value, start, spb)
