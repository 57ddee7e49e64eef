"""Find the rig's boards by USB id and bind roles to them (resource layer).

A *binding* says which attached board plays a role, so the roles survive
re-plugging and the kernel renaming /dev/ttyUSB0 to /dev/ttyUSB1:

    /dev/ttyUSB0      a device path (also a virtual board's pty)
    serial:A50285BI   the USB adapter's serial number (CP2102 and FTDI have one)
    location:1-1.2    the USB port the board is plugged into, as pyserial's
                      ListPortInfo.location reports it ("1-1.2" also matches
                      the interface form "1-1.2:1.0"). CH340s, the D1 mini's
                      adapter, usually have no serial number: location is the
                      way to tell two of them apart. It moves with the cable, so
                      keep each board on its own hub port.

No binding (None) picks the only ESP8266 board attached; with two attached it
is ambiguous, and the error lists the exact options that would settle it.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import serial.tools.list_ports

# USB-serial adapters found on ESP8266 dev boards: (VID, PID or None = any).
USB_ADAPTERS: tuple[tuple[int, int | None, str], ...] = (
    (0x1A86, 0x7523, "CH340"),  # WeMos/LOLIN D1 mini, most NodeMCU clones
    (0x1A86, 0x55D4, "CH9102"),  # newer LOLIN D1 mini revisions
    (0x10C4, 0xEA60, "CP2102"),  # NodeMCU v2 (Amica), Adafruit Feather HUZZAH
    (0x0403, None, "FTDI"),  # FT232R/FT231X breakouts (ESP-12 on a programmer)
)

SPEC_PREFIXES = ("serial:", "location:")


class DiscoverError(Exception):
    """No board, or no single board, matches a binding."""


class NoBoardError(DiscoverError):
    """Nothing attached matches (yet): wait_for_port() keeps polling on this."""


class AmbiguousBoardError(DiscoverError):
    """More than one board matches; the message lists the options to pass."""


@dataclass(frozen=True)
class BoardInfo:
    """One attached USB serial port (what ListPortInfo says about it)."""
    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    location: str | None
    description: str
    adapter: str  # "CH340", "CP2102", "FTDI", or "" for a port of no known ESP8266 adapter

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else ""

    @property
    def is_esp_board(self) -> bool:
        return bool(self.adapter)

    @property
    def usb_location(self) -> str:
        """Location without the interface suffix (Linux: "1-1.2:1.0" → "1-1.2")."""
        return (self.location or "").split(":", 1)[0]

    def matches(self, spec: str) -> bool:
        """True when this port is the one `spec` binds (see module doc)."""
        if spec.startswith("serial:"):
            return self.serial_number is not None and self.serial_number == spec[len("serial:"):]
        if spec.startswith("location:"):
            want = spec[len("location:"):]
            return bool(want) and want in (self.location, self.usb_location)
        return os.path.realpath(spec) == os.path.realpath(self.device) if spec.startswith("/") else spec == self.device

    def binding(self, others: list["BoardInfo"] = ()) -> str:
        """The most stable spec that names this board alone among `others`:
        its serial number if unique, else its location, else its path."""
        if self.serial_number and sum(1 for o in others if o.serial_number == self.serial_number) <= 1:
            return f"serial:{self.serial_number}"
        if self.usb_location:
            return f"location:{self.usb_location}"
        return self.device

    def describe(self) -> str:
        parts = [self.device, self.adapter or "unknown adapter", self.usb_id]
        parts.append(f"serial {self.serial_number}" if self.serial_number else "no serial number")
        parts.append(f"location {self.usb_location}" if self.usb_location else "no location")
        return ", ".join(p for p in parts if p)


UDEV_DATA = Path("/run/udev/data")  # udev's database: one file per device, "E:NAME=value" lines


def udev_property(device: str, name: str, data_dir: Path | None = None) -> str | None:
    """A udev property of a character device (e.g. ID_PATH, which labgrid's
    exporter matches ports by), read from udev's database as pyudev reads it;
    None where udev does not run or does not know the device."""
    try:
        rdev = os.stat(device).st_rdev
        text = ((data_dir or UDEV_DATA) / f"c{os.major(rdev)}:{os.minor(rdev)}").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"E:{name}="):
            return line.split("=", 1)[1]
    return None


def adapter_name(vid: int | None, pid: int | None) -> str:
    for v, p, name in USB_ADAPTERS:
        if vid == v and (p is None or pid == p):
            return name
    return ""


def _info(port) -> BoardInfo:
    return BoardInfo(device=port.device, vid=port.vid, pid=port.pid, serial_number=port.serial_number or None,
                     location=port.location or None, description=port.description or "",
                     adapter=adapter_name(port.vid, port.pid))


def list_ports() -> list[BoardInfo]:
    """Every serial port with a USB id (ESP8266 adapter or not), sorted by path."""
    return sorted((_info(p) for p in serial.tools.list_ports.comports() if p.vid is not None),
                  key=lambda b: b.device)


def find_boards() -> list[BoardInfo]:
    """The attached ports whose USB id is an ESP8266 board's adapter."""
    return [b for b in list_ports() if b.is_esp_board]


def is_binding(spec: str) -> bool:
    return spec.startswith(SPEC_PREFIXES)


def _listing(boards: list[BoardInfo], option: str) -> str:
    return "\n".join(f"  {option} {b.binding(boards):<22} # {b.describe()}" for b in boards)


def _wanted() -> str:
    return ", ".join(f"{name} {v:04x}:{p:04x}" if p is not None else f"{name} {v:04x}:*" for v, p, name in USB_ADAPTERS)


def resolve(role_spec: str | None, role: str = "board", *, option: str = "--port",
            exclude: tuple[str, ...] = ()) -> str:
    """The device path a binding names right now.

    role_spec: a device path, `serial:XYZ`, `location:1-1.2`, or None for the
    only ESP8266 board attached. `exclude`: device paths already bound to other
    roles (so with one role bound, the other takes the remaining board).
    `role` and `option` only shape the error messages.
    """
    if role_spec and "://" in role_spec:
        return role_spec  # a network port (a labgrid place's rfc2217://): pyserial opens the URL as it is
    if role_spec and not is_binding(role_spec):
        if os.path.exists(role_spec) or any(p.device == role_spec for p in list_ports()):
            return role_spec
        raise NoBoardError(f"{role}: {role_spec} does not exist. Is the board plugged in? "
                           f"Attached boards:\n{_listing(find_boards(), option) or '  (none)'}")
    if role_spec:
        candidates = [b for b in list_ports() if b.matches(role_spec)]
        if not candidates:
            raise NoBoardError(f"{role}: no attached port matches {role_spec}. Attached boards:\n"
                               f"{_listing(find_boards(), option) or '  (none)'}")
        if len(candidates) > 1:
            raise AmbiguousBoardError(f"{role}: {len(candidates)} ports match {role_spec} (adapters that share a "
                                      f"serial number): bind by location instead:\n{_listing(candidates, option)}")
        return candidates[0].device
    boards = [b for b in find_boards() if b.device not in exclude]
    if not boards:
        raise NoBoardError(f"{role}: no ESP8266 board attached (looked for USB ids {_wanted()}). Plug it in "
                           f"(a data cable, not a charge-only one), or pass {option} PATH")
    if len(boards) > 1:
        raise AmbiguousBoardError(f"{role}: {len(boards)} ESP8266 boards attached and no binding says which is the "
                                  f"{role}; pass one of:\n{_listing(boards, option)}")
    return boards[0].device


def resolve_roles(bindings: dict[str, str | None], options: dict[str, str] | None = None) -> dict[str, str]:
    """Device path for every role. Bound roles first; then an unbound role may
    take the one board left over (two unbound roles with two boards are
    ambiguous: nothing tells the emulator from the bridge)."""
    options = options or {}
    paths: dict[str, str] = {}
    for role, spec in bindings.items():
        if spec:
            paths[role] = resolve(spec, role, option=options.get(role, "--port"))
    unbound = [role for role, spec in bindings.items() if not spec]
    if len(unbound) > 1:
        free = [b for b in find_boards() if b.device not in paths.values()]
        if len(free) >= len(unbound):
            lines = "\n".join(f"  {options.get(r, '--port')} {b.binding(free):<22} # {b.describe()}"
                              for r in unbound for b in free)
            raise AmbiguousBoardError(f"{len(free)} boards attached and no binding for {' and '.join(unbound)}: "
                                      f"bind each role to one of:\n{lines}")
    for role in unbound:
        paths[role] = resolve(None, role, option=options.get(role, "--port"), exclude=tuple(paths.values()))
    if len(set(paths.values())) < len(paths):
        raise AmbiguousBoardError(f"two roles bound to the same port: {paths}")
    return paths


def role_of(board: BoardInfo, bindings: dict[str, str | None]) -> str:
    """Which role's binding names this board ('' if none)."""
    return ", ".join(role for role, spec in bindings.items() if spec and board.matches(spec))


def wait_for_port(spec: str | None, timeout: float, role: str = "board", interval: float = 0.25,
                  stop: threading.Event | None = None) -> str:
    """Wait for a board to (re)appear, e.g. after USB re-enumeration; returns
    its device path. Polls list_ports: pyserial has no hot-plug event source.
    A set `stop` event ends the wait early with NoBoardError."""
    deadline = time.monotonic() + timeout
    stop = stop or threading.Event()
    while True:
        try:
            return resolve(spec, role)
        except NoBoardError as e:
            if time.monotonic() >= deadline or stop.is_set():
                raise NoBoardError(f"waited {timeout:.0f} s: {e}") from None
        stop.wait(interval)
