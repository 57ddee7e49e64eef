"""ESP8266 `machine` for the virtual rig: UART over the rig's P1 line, register
file for the UART inversion bits, resets, watchdog, timers. Hardware only: no
rig policy here.

While the firmware reads UART0, the board reports its heap to the rig every
HEAP_EVERY_MS (free now, lowest free after a collection since the last
report): the rig's view of the heap without the firmware's help.

Mirrors ports/esp8266: UART0 is RX+TX (its TX is the USB serial log), UART1 is
TX only; UART init rewrites CONF0 and so clears the inversion bits; the RX ring
(`rxbuf`) overflows when the firmware does not read, modelled by the rig.
"""
import array
import gc
import io
import os
import select
import socket
import struct
import sys
import time

import _simlink

try:
    from _vboard import exit as _exit, uart0_tx as _uart0_tx
except ImportError:  # the approximate board: UART0 TX shares stdout
    _exit = _uart0_tx = None
try:
    from _vboard import fionread as _fionread, heap_low as _heap_low
except ImportError:  # the approximate board: no collection hook, any() peeks
    _fionread = _heap_low = None
from _chipc import C as _C  # the HAL is C on the chip: its time is not the chip's computing
from _chipc import LINE as _LINE  # UART TX: the bytes leave when the chip hands them over
try:
    from _vboard import clock_freq as _clock_freq
except ImportError:  # the approximate board: no chip clock
    _clock_freq = None

PWRON_RESET = 0
WDT_RESET = 1
SOFT_RESET = 4
DEEPSLEEP_RESET = 5
HARD_RESET = 6

_UART0_CONF0 = 0x60000020
_UART1_CONF0 = 0x60000F20
_UART_RXD_INV = 1 << 19
_UART_TXD_INV = 1 << 22
_CONF0_8N1 = 0x1C  # what uart_config writes for 8N1: inversion bits cleared
_TX_FIFO = 128  # ESP8266 UART TX FIFO: write() blocks beyond this
_EAGAIN = 11
_MSG_PEEK = 2
_EXIT_HARD_RESET = 77  # tells the virtual board to run a hard reset
HEAP_EVERY_MS = 100

# Preallocated: reporting the heap must not allocate what it measures.
_heap_frame = bytearray(_simlink.HEAP + b"\x00\x0c" + bytes(12))  # HEAP, len 12: free, lowest after gc, collections
_heap_low_out = array.array("i", (-1, -1))
_heap_due = 0


def _report_heap():
    global _heap_due
    now = time.ticks_ms()
    if time.ticks_diff(now, _heap_due) < 0:
        return
    _heap_due = time.ticks_add(now, HEAP_EVERY_MS)
    if _heap_low is not None:
        _heap_low(_heap_low_out)
    struct.pack_into(">iii", _heap_frame, 3, gc.mem_free(), _heap_low_out[0], _heap_low_out[1])
    _simlink.control_frame(_heap_frame)


class _Registers:
    """machine.mem32: only the UART CONF0 registers mean anything here."""

    def __init__(self):
        self._regs = {_UART0_CONF0: _CONF0_8N1, _UART1_CONF0: _CONF0_8N1}
        self._watch = {}

    def __getitem__(self, addr):
        return self._regs.get(addr, 0)

    def __setitem__(self, addr, value):
        self._regs[addr] = value & 0xFFFFFFFF
        uart = self._watch.get(addr)
        if uart is not None:
            uart._send_config()


mem32 = _Registers()


class UART(io.IOBase):
    def __init__(self, id, baudrate=115200, **kw):
        if id not in (0, 1):
            raise ValueError("UART(%d) doesn't exist" % id)
        self._id = id
        self._conf0 = _UART0_CONF0 if id == 0 else _UART1_CONF0
        self._link = _simlink.connect(id)
        self._sent = 0
        self._acked = 0
        self._poll = None
        if self._link is not None and id == 0:
            self._link.setblocking(False)
            self._poll = select.poll()
            self._poll.register(self._link, select.POLLIN)
        mem32._watch[self._conf0] = self
        self._rxbuf = 16
        self._fd = self._link.fileno() if self._link is not None else -1
        self._one = bytearray(1)
        self._consumed = bytearray(_simlink.CONSUMED + b"\x00\x04" + bytes(4))
        self._baud = 115200
        self._bits = 8
        self._parity = None
        self._stop = 1
        self._timeout = 0
        self.init(baudrate, **kw)

    def init(self, baudrate=None, bits=None, parity=0, stop=None, *, rxbuf=None,
             timeout=None, timeout_char=None, tx=None, rx=None):
        if baudrate is not None:
            self._baud = baudrate
        if bits is not None:
            self._bits = bits
        if parity != 0:
            self._parity = parity
        if stop is not None:
            self._stop = stop
        if rxbuf is not None:
            if self._id != 0:
                raise ValueError("only UART0 can receive")
            self._rxbuf = rxbuf
            # The chip's ring buffer lives on the heap beyond 16 bytes
            # (machine_uart.c: m_new(byte, rxbuf + 1)); the rig's link holds
            # the bytes, this holds the heap.
            self._ring = bytearray(rxbuf + 1) if rxbuf + 1 > 16 else None
        if timeout is not None:
            self._timeout = timeout
        mem32._regs[self._conf0] = _CONF0_8N1
        self._send_config()

    def _send_config(self):
        if self._link is None:
            return
        conf0 = mem32[self._conf0]
        _simlink.send(self._link, _simlink.CONFIG, "{} {} {} {} {} {} {}".format(
            self._baud, self._bits, self._parity, self._stop, self._rxbuf,
            int(bool(conf0 & _UART_TXD_INV)), int(bool(conf0 & _UART_RXD_INV))).encode())

    def deinit(self):
        pass

    # --- receive (UART0 only) ---
    # The rig's link is the chip's RX ring: the rig never has more than rxbuf
    # bytes on it that the firmware has not read. The bytes stay there until
    # read, so polling the link's fd (asyncio does) sees them. Like the chip's
    # C code, any(), readinto() and readline() allocate nothing but what they
    # return.
    def any(self):
        with _C:
            return self._any()

    def _any(self):
        if self._id != 0 or self._link is None:
            return 0
        _report_heap()
        if _fionread is not None:
            return _fionread(self._fd)
        try:
            return len(self._link.recv(self._rxbuf, _MSG_PEEK))
        except OSError as e:
            if e.errno == _EAGAIN:
                return 0
            raise

    def _took(self, n):
        struct.pack_into(">I", self._consumed, 3, n)
        self._link.write(self._consumed)

    def _available(self):
        size = self._any()
        if size == 0 and self._timeout > 0 and self._poll is not None:
            self._poll.poll(self._timeout)
            size = self._any()
        return size

    def readinto(self, buf, nbytes=-1):
        with _C:
            return self._readinto(buf, nbytes)

    def _readinto(self, buf, nbytes=-1):
        size = self._available()
        if size == 0:
            return None
        if 0 <= nbytes < size:
            size = nbytes
        if len(buf) < size:
            size = len(buf)
        n = self._link.readinto(buf, size)
        if not n:
            return None
        self._took(n)
        return n

    def read(self, nbytes=-1):
        with _C:
            return self._read(nbytes)

    def _read(self, nbytes=-1):
        size = self._available()
        if size == 0:
            return None
        if 0 <= nbytes < size:
            size = nbytes
        data = self._link.recv(size)
        self._took(len(data))
        return data

    def readline(self):
        with _C:
            return self._readline()

    def _readline(self):
        line = bytearray()  # grows a byte at a time, as the chip's vstr does
        one = self._one
        while self._available():
            if not self._link.readinto(one):
                break
            line.append(one[0])
            if one[0] == 10:
                break
        if not line:
            return None
        self._took(len(line))
        return bytes(line)

    # --- transmit ---
    def write(self, buf):
        with _LINE if self._id == 1 else _C:
            return self._write(buf)

    def _write(self, buf):
        if self._id == 0:
            # UART0 TX is the USB serial: it reaches the host whether or not
            # the REPL is attached.
            if _uart0_tx is not None:
                return _uart0_tx(buf)
            sys.stdout.buffer.write(buf)
            return len(buf)
        if self._link is None:
            return len(buf)
        mv = memoryview(buf)
        i = 0
        while i < len(mv):
            self._wait_fifo(_TX_FIFO - 1)
            room = _TX_FIFO - (self._sent - self._acked)
            chunk = mv[i:i + room]
            _simlink.send(self._link, _simlink.DATA, chunk)
            self._sent += len(chunk)
            i += len(chunk)
        return len(buf)

    def _wait_fifo(self, room):
        ack = bytearray(4)
        while self._sent - self._acked > room:
            got = self._link.readinto(ack)
            if not got:
                raise OSError("virtual rig link closed")
            if got < 4:
                self._link.readinto(memoryview(ack)[got:])
            self._acked = struct.unpack(">I", ack)[0]

    def flush(self):
        with _C:
            return self._flush()

    def _flush(self):
        if self._link is not None and self._id == 1:
            self._wait_fifo(0)

    def txdone(self):
        return self._sent == self._acked

    def ioctl(self, req, arg):
        with _C:
            return self._ioctl(req, arg)

    def _ioctl(self, req, arg):
        if req == 10 and self._link is not None and self._id == 0:  # MP_STREAM_GET_FILENO
            return self._link.fileno()
        if req == 3:  # MP_STREAM_POLL
            ready = 0
            if arg & 1 and self._any():  # any() also reports the heap
                ready |= 1
            if arg & 4:
                ready |= 4
            return ready
        return 0


def reset():
    if _exit is not None:
        _exit(_EXIT_HARD_RESET)  # system_restart(): no except clause can catch it
    sys.exit(_EXIT_HARD_RESET)


def soft_reset():
    sys.exit(0)


def reset_cause():
    return int(os.getenv("HIL_SIM_RESET_CAUSE") or PWRON_RESET)


def unique_id():
    name = _simlink.BOARD.encode()
    return bytes((sum(name) + i * 31) & 0xFF for i in range(4))


_freq = 80000000  # a reset brings the chip back to 80 MHz


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    if hz // 1000000 not in (80, 160):
        raise ValueError("frequency can only be either 80Mhz or 160MHz")
    _freq = hz // 1000000 * 1000000
    if _clock_freq is not None:
        _clock_freq(_freq)  # 160 MHz computes twice as fast


def idle():
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


# The SDK's soft watchdog, which machine.WDT() stops the idle loop from
# feeding: it resets the chip about 3.2 s after the last feed, with
# rst_info.reason REASON_SOFT_WDT_RST (ESP8266 Non-OS SDK; measured by
# sigmdel.ca, "ESP8266 Watchdogs in Arduino"). machine has no name for 3.
_SOFT_WDT_MS = 3200

try:
    from _vboard import watchdog as _watchdog
except ImportError:  # the fallback board: expiry is not modelled
    _watchdog = None


class WDT:
    """machine.WDT as on the ESP8266: id 0 only, the timeout fixed at 5000 (any
    other value is a ValueError there), and once made it cannot be stopped."""

    def __init__(self, id=0, timeout=5000):
        if id != 0 or timeout != 5000:
            raise ValueError
        self.feed()

    def feed(self):
        if _watchdog is not None:
            with _C:
                _watchdog(_SOFT_WDT_MS)


try:
    from _vboard import timer_arm as _timer_arm, timer_disarm as _timer_disarm
except ImportError:  # the approximate board: its timers never fire
    _timer_arm = _timer_disarm = None


class Timer:
    """machine.Timer as on the ESP8266: every id is an SDK virtual (os) timer
    (ports/esp8266/modmachine.c ignores it); init() takes its arguments by
    keyword only and starts the timer afresh; the callback gets the timer and
    runs as a scheduled callback (micropython.schedule), while code runs and
    while the REPL waits for input (cmod/vboard/vboard_timer.c). Only the
    period in milliseconds: no freq, tick_hz or hard callbacks."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id):
        pass

    def init(self, *, mode=PERIODIC, period=-1, callback=None):
        if _timer_arm is not None:
            with _C:
                _timer_arm(self, callback, period, mode)

    def deinit(self):
        if _timer_disarm is not None:
            with _C:
                _timer_disarm(self)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self._id = id
        self._value = 1 if value is None else value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0

    __call__ = value
