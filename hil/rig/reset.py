"""Reset an ESP8266 dev board through its USB adapter's DTR/RTS lines.

ESP8266 dev boards (D1 mini, NodeMCU) wire the adapter's modem lines to the
chip through two cross-coupled transistors, the circuit esptool's resets are
written for:

    RTS asserted, DTR not  →  EN (CH_PD/RST) low: the chip is held in reset
    DTR asserted, RTS not  →  GPIO0 low: the ROM starts the serial bootloader
    both or neither        →  nothing pulled (opening a port is no reset)

A *hard reset* into run mode (what pressing RST does) pulses EN low with
GPIO0 high; a *bootloader reset* releases EN while GPIO0 is low. Both are
esptool's own sequences (esp_pylib.serial_reset, the library esptool resets
with); this module adds the refusal for virtual boards, GPIO0 released before
a hard reset (a port may open with DTR asserted), and resets through a port
another object already holds.

Virtual boards are ptys: they have no modem lines. They are reset through
the virtual rig's control socket, ``VirtualRig.reset(ROLE)``; asking
this module to reset one is an error that says so.
"""
from __future__ import annotations

import os
import stat

import serial
from esp_pylib.serial_reset import PIN_HIGH, classic_bootloader_reset, hard_reset as _pulse_en, set_dtr

HOLD_S = 0.1  # EN low; esptool's hard_reset hold_delay for UART bridges
BOOT_RELEASE_S = 0.05  # GPIO0 kept low after EN rises (esptool's DEFAULT_RESET_DELAY)

_PTY_MAJORS = range(136, 144)  # Unix98 pty slaves (/dev/pts/N)


class ResetError(Exception):
    pass


class VirtualBoardError(ResetError):
    """The port is a pty: a virtual board, which has no DTR/RTS lines."""


def is_virtual(port: str) -> bool:
    """True for a pty (a virtual board's port), as mpremote tells them apart."""
    if port.startswith("/dev/pts/"):
        return True
    try:
        st = os.stat(port)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS


def refuse_virtual(port: str, what: str = "reset") -> None:
    if is_virtual(port):
        raise VirtualBoardError(
            f"{port} is a pty (a virtual board): it has no DTR/RTS lines to {what} with. Reset a virtual board "
            "through the virtual rig's control socket: VirtualRig.reset(ROLE)")


def _port_name(port) -> str:
    return str(getattr(port, "port", None) or getattr(port, "name", "") or "")


def hard_reset(port, hold: float = HOLD_S) -> None:
    """Restart the chip into run mode on an open serial port (pyserial or a
    proxy of one): GPIO0 high, then esptool's EN pulse of `hold` seconds."""
    refuse_virtual(_port_name(port))
    set_dtr(port, PIN_HIGH)  # GPIO0 high: boot from flash, and the RTS pulse reaches EN
    _pulse_en(port, hold_delay=hold)


def bootloader_reset(port, hold: float = HOLD_S, release: float = BOOT_RELEASE_S) -> None:
    """esptool's classic reset into the ROM bootloader (flashing is esptool's
    job; this is here for tools that talk to the ROM themselves)."""
    refuse_virtual(_port_name(port))
    classic_bootloader_reset(port, enter_boot_delay=hold, reset_delay=release)


def reset_port(path: str, hold: float = HOLD_S) -> None:
    """Hard-reset the board on `path` when nothing else holds the port."""
    refuse_virtual(path)
    s = serial.Serial()
    s.port, s.baudrate = path, 115200
    s.dtr = s.rts = False  # deasserted from the start: neither line pulls
    try:
        s.open()
    except serial.SerialException as e:
        raise ResetError(f"cannot open {path} to reset the board: {e}. Is another program holding the port?") from e
    try:
        hard_reset(s, hold)
    finally:
        s.close()


def reset_board(board, wait_for: bytes | None = None, timeout: float = 10) -> str:
    """Hard-reset through an open hil.rig.board.Board's own port (one owner
    per port): the board reboots and runs boot.py and main.py; the raw REPL
    is gone, so the next command re-enters it. With `wait_for`, returns what
    the board printed up to that text (e.g. the bridge's boot-window prompt,
    the moment a Ctrl-C keeps its REPL)."""
    refuse_virtual(board.port)
    transport = board.transport
    hard_reset(transport.serial)
    transport.in_raw_repl = False
    if wait_for is None:
        return ""
    data = transport.read_until(1, wait_for, timeout=timeout)
    if not data.endswith(wait_for):
        raise ResetError(f"{board.role}: {wait_for.decode(errors='replace')!r} not seen within {timeout} s after a "
                         f"hard reset on {board.port}; it printed: {data[-300:].decode(errors='replace')!r}")
    return data.decode("utf-8", "replace")
