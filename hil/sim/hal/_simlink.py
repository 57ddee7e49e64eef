"""Virtual-rig wiring for HAL modules: one Unix-socket link per UART to the rig.

Not an ESP8266 API. Frames to the rig are `type(1) len(2, BE) payload`; what the
rig sends back is raw RX bytes (UART0) or 4-byte big-endian TX acknowledgements
(UART1). Written by hand: the link protocol is the rig's own.
"""
import socket
import struct
from uos import getenv  # not `os`: the HAL os imports this module

HELLO = b"H"  # payload: "board uart"
CONFIG = b"C"  # payload: "baud bits parity stop rxbuf tx_inv rx_inv"
DATA = b"D"  # payload: bytes to transmit
CONSUMED = b"R"  # payload: 4-byte count of RX bytes the firmware took
DUPTERM = b"T"  # payload: b"1" REPL attached to UART0, b"0" detached
HEAP = b"M"  # payload: 3 big-endian int32: free heap, lowest free after a collection (-1: none), collections

BOARD = getenv("HIL_SIM_BOARD") or "board"
_LINE = getenv("HIL_SIM_LINE")


def connect(uart_id):
    """Open the link for one UART, or return None when no rig is listening."""
    if not _LINE:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(struct.pack("H", socket.AF_UNIX) + _LINE.encode() + b"\0")
    except OSError:
        s.close()
        return None
    send(s, HELLO, "{} {}".format(BOARD, uart_id).encode())
    return s


def send(sock, kind, payload):
    sock.write(kind + struct.pack(">H", len(payload)) + payload)


_control = None


def control(kind, payload):
    """Board-level message (not tied to a UART) on a shared link."""
    control_frame(kind + struct.pack(">H", len(payload)) + payload)


def open_control():
    """Open the board-level link (the boot code does, before main.py)."""
    global _control
    if _control is None:
        _control = connect("ctl")


def control_frame(frame):
    """A whole frame, already built, on the board-level link: allocates
    nothing once the link is open."""
    open_control()
    if _control is not None:
        _control.write(frame)
