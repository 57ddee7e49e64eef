"""ESP8266 `os` additions for the virtual rig: the built-in os plus dupterm.

os.dupterm(None, 1) detaches the REPL from UART0, as on the chip: from then on
bytes from the USB port and the P1 line both land in UART0's RX ring, and
Ctrl-C no longer interrupts. The rig does the routing; this only tells it.
"""
from uos import *  # noqa: F401,F403

import _simlink

_slots = [None, "uart0"]


def dupterm(stream_object, index=0):
    previous = _slots[index] if 0 <= index < len(_slots) else None
    if index == 1:
        _simlink.control(_simlink.DUPTERM, b"0" if stream_object is None else b"1")
    if 0 <= index < len(_slots):
        _slots[index] = stream_object
    return None if previous == "uart0" else previous


def dupterm_notify(obj_or_dummy):
    pass
