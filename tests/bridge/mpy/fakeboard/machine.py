# Minimal stand-in for the ESP8266 `machine` module, for main.py tests only (the
# rig's real HAL lives in hil/sim/hal): the boot flow, and with P1 set the
# application loop (run_main_loop.py). Records what main.py did.
import io
import sys

_GET_FILENO = 10  # MP_STREAM_GET_FILENO
calls = []
# (host, port) of a TCP server that plays the P1 line; None: UART() exits (the
# boot-flow tests check only what happens before the application loop).
P1 = None


def reset_cause():
    return 0


def unique_id():
    return b"\x01\x02\x03\x04"


def freq(hz=None):
    if hz is None:
        return 80000000
    calls.append(("freq", hz))
    print("fake: freq(%d)" % hz)


def reset():
    print("fake: machine.reset()")
    sys.exit(4)


class WDT:
    def feed(self):
        pass


class UART(io.IOBase):
    # Pollable, as the chip's UART is (MP_STREAM_POLL): the bridge waits for
    # UART bytes in asyncio's I/O queue between telegrams. The socket that plays
    # the P1 line gives select.poll its file descriptor.
    def __init__(self, id, baudrate=115200, rxbuf=16):
        calls.append(("UART", id, baudrate, rxbuf))
        print("fake: UART(%d, baudrate=%d, rxbuf=%d)" % (id, baudrate, rxbuf))
        if P1 is None:
            sys.exit(3)
        self._looked = False
        self._open()

    def _look(self):
        # Once: when the firmware first looks at the RX ring, the boot order's end.
        if not self._looked:
            self._looked = True
            print("fake: UART(0) read first")

    def _open(self):
        import socket

        self._s = socket.socket()
        self._s.connect(socket.getaddrinfo(P1[0], P1[1])[0][-1])
        self._s.setblocking(False)

    def any(self):
        self._look()
        try:
            return len(self._s.recv(1024, 2))  # MSG_PEEK: what the ring holds
        except OSError:
            return 0

    def readinto(self, buf):
        self._look()
        n = self._s.readinto(buf)
        if n == 0:
            # The test closed the line: a fault the application cannot handle,
            # so bridge_main restarts it; the line is open again for that start.
            self._s.close()
            self._open()
            raise RuntimeError("fake UART: P1 line cut")
        return n

    def ioctl(self, req, arg):
        if req == _GET_FILENO:
            return self._s.fileno()
        return -1

    def write(self, b):  # UART0 TX: the bridge's log
        sys.stdout.buffer.write(b)


class Timer:
    # Records what the REPL path arms; it never fires here (the boot-flow
    # tests end at the REPL; tests/sim runs the real thing).
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id):
        pass

    def init(self, *, mode=PERIODIC, period=-1, callback=None):
        calls.append(("Timer", mode, period))
        print("fake: Timer(mode=%d, period=%d)" % (mode, period))

    def deinit(self):
        print("fake: Timer deinit")
