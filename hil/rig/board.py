"""A MicroPython board over its serial port: raw REPL, files, logs.

The one owner of a board's port (real /dev/ttyUSB* or a virtual board's pty).
Raw-REPL work goes through mpremote's transport, wrapped here so a change in
its (unstable) API touches one place. Every byte read from the port goes to the
board's log with a timestamp and the board's role, and output of long-running
commands is handed out line by line as it arrives.

A port that disappears (USB unplugged, a hub resetting, the kernel
re-enumerating the adapter as another /dev/ttyUSB*) is waited for and
reattached through the board's binding: by the background monitor at once, or
by the next command. A command cut off by the loss fails; it is not retried.
"""
from __future__ import annotations

import ast
import binascii
import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from . import discover
from .reset import is_virtual

REATTACH_TIMEOUT_S = 30.0  # how long a vanished port is waited for


def log_stamp(at: float | None = None) -> str:
    """How the boards' logs stamp a line: local HH:MM:SS.mmm of Unix time `at` (default now)."""
    at = time.time() if at is None else at
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"


class BoardError(Exception):
    """Talking to a board failed; the message says what and where to look."""


class BoardExecError(BoardError):
    """Code raised on the board; carries the board's traceback."""

    def __init__(self, role: str, code: str, traceback: str):
        self.traceback = traceback
        super().__init__(f"{role}: code raised on the board:\n{traceback.strip()}\n--- code ---\n{code.strip()[:500]}")


class BoardTimeout(BoardError):
    pass


class PortGoneError(BoardError):
    """The board's port disappeared and did not come back in time."""


class BoardLog:
    """Timestamped, role-prefixed log of what a port said, one file per board."""

    def __init__(self, role: str, path: Path | None):
        self.role = role
        self.path = path
        self._file = open(path, "ab", buffering=0) if path else None
        self._partial = b""
        self._lock = threading.Condition()
        self.lines: list[str] = []
        self.times: list[float] = []  # time.monotonic() of each line

    def feed(self, data: bytes) -> None:
        with self._lock:
            text = self._partial + data
            *complete, self._partial = text.split(b"\n")
            for raw in complete:
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                self.lines.append(line)
                self.times.append(time.monotonic())
                self._lock.notify_all()
                if self._file:
                    self._file.write(f"{log_stamp()} [{self.role}] {line}\n".encode())

    def wait_for(self, regex: re.Pattern, start: int, timeout: float) -> tuple[int, re.Match] | None:
        """First line from index `start` on that matches; waits for new lines."""
        deadline = time.monotonic() + timeout
        with self._lock:
            i = start
            while True:
                while i < len(self.lines):
                    m = regex.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)

    def note(self, text: str) -> None:
        """A line from the host (not the board) into the log: port events."""
        self.feed(f"~~ hil: {text}\n".encode())

    def tail(self, n: int = 20) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:])

    def close(self) -> None:
        if self._file:
            self._file.close()


class _LoggedSerial:
    """pyserial port proxy that copies every byte read into the board log and
    tells the board when the port fails (gone from under it)."""

    def __init__(self, serial, log: BoardLog, on_error: Callable[[OSError], None]):
        self._serial = serial
        self._log = log
        self._on_error = on_error

    def read(self, size=1):
        try:
            data = self._serial.read(size)
        except OSError as e:  # pyserial's SerialException is an OSError
            self._on_error(e)
            raise
        if data:
            self._log.feed(data)
        return data

    def write(self, data):
        try:
            return self._serial.write(data)
        except OSError as e:
            self._on_error(e)
            raise

    def __getattr__(self, name):
        return getattr(self._serial, name)


class Board:
    """One board, by role ("emulator" / "bridge") and port.

    `port` is the device path to open; `binding` (default: `port`) is what
    finds the board again after its port vanished: a stable path such as
    /dev/serial/by-path/... or a virtual board's link, or a discover spec
    (`serial:...`, `location:...`). `virtual`: the board is a virtual ESP8266
    (default: when its port is a pty; a labgrid place's network port says
    nothing, so the place's tag decides there)."""

    def __init__(self, role: str, port: str, log_path: Path | None = None, binding: str | None = None,
                 reattach_timeout: float = REATTACH_TIMEOUT_S, virtual: bool | None = None):
        self.role = role
        self.port = port
        self.virtual = is_virtual(port) if virtual is None else virtual
        self.binding = binding or port
        self.device = ""  # what is open: the port with links resolved
        self.reattach_timeout = reattach_timeout
        self.reattaches = 0
        self.log = BoardLog(role, log_path)
        self._transport: SerialTransport | None = None
        self._gone: OSError | None = None  # the error that showed the port failing
        self._running = False  # a no-follow command is running on the board
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        self._monitor_failure: BoardError | None = None

    # --- connection ---
    def open(self) -> "Board":
        device = os.path.realpath(self.port) if self.port.startswith("/") else self.port
        try:
            # A read timeout: mpremote reads ptys without checking in_waiting.
            transport = SerialTransport(device, baudrate=115200, timeout=0.5)
        except TransportError as e:
            # mpremote's error drops the OSError; a port we may not open is told apart here.
            if os.path.exists(device) and not os.access(device, os.R_OK | os.W_OK):
                raise BoardError(f"{self.role}: no permission to open {self.port}: add yourself to the group "
                                 "that owns it (sudo usermod -aG dialout $USER, then log in again)") from e
            raise BoardError(f"{self.role}: cannot open {self.port}: {e}. Is the board plugged in "
                             "and no other program (miniterm, mpremote, Thonny) holding the port?") from e
        transport.serial = _LoggedSerial(transport.serial, self.log, self._port_failed)
        self._transport = transport
        self.device = device
        self._gone = None
        return self

    def _port_failed(self, error: OSError) -> None:
        self._gone = error

    def _drop_transport(self) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            except OSError:
                pass  # a vanished port cannot be closed cleanly
            self._transport = None

    def close(self) -> None:
        self.stop_monitor()
        self._drop_transport()
        self.log.close()

    def _moved(self) -> str:
        """Why the binding no longer leads to the open device ("" if it does)."""
        try:
            now = discover.resolve(self.binding, self.role)
        except discover.NoBoardError:
            return f"{self.binding} is not there"
        except discover.DiscoverError as e:
            raise BoardError(f"{self.role}: {e}") from e
        now = os.path.realpath(now) if now.startswith("/") else now
        return f"{self.binding} now leads to {now}" if now != self.device else ""

    def ensure_attached(self) -> bool:
        """Reattach if the port failed or the binding now names another
        device (re-enumerated); True when it did."""
        if self._transport is not None and self._gone is None:
            moved = self._moved()
            if not moved:
                return False
            self._gone = OSError(moved)
        self.reattach()
        return True

    def reattach(self, stop: threading.Event | None = None) -> None:
        """Wait for the board's port to come back through its binding and
        open it again. What the board does meanwhile is its own business: a
        D1 mini powered by USB has rebooted."""
        why = f": {self._gone}" if self._gone else ""
        self.log.note(f"{self.role} port {self.device or self.port} gone{why}; waiting up to "
                      f"{self.reattach_timeout:.0f} s for {self.binding} to come back")
        self._drop_transport()
        self._running = False
        try:
            self.port = discover.wait_for_port(self.binding, self.reattach_timeout, self.role, stop=stop)
        except discover.NoBoardError as e:
            raise PortGoneError(f"{self.role}: the port went away and did not come back: {e}. Plug the board "
                                f"in again (or check its USB hub) and rerun{self._where()}") from e
        self.open()
        self.reattaches += 1
        self.log.note(f"{self.role} port back as {self.device}; reattached")

    def __enter__(self) -> "Board":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def transport(self) -> SerialTransport:
        if self._transport is None:
            if self._monitor_failure is not None:
                raise self._monitor_failure
            raise BoardError(f"{self.role}: port {self.port} is not open")
        return self._transport

    def _where(self) -> str:
        where = f" (board log: {self.log.path})" if self.log.path else ""
        return f"{where}\nlast output from {self.role}:\n{self.log.tail()}"

    def enter_raw_repl(self, soft_reset: bool = False) -> None:
        """Interrupt whatever runs and take the raw REPL (no soft reset by
        default: a soft reset would re-run boot.py on a board mid-test)."""
        self.stop_monitor()
        self.ensure_attached()
        t = self.transport
        try:
            t.enter_raw_repl(soft_reset=soft_reset)
        except TransportError as e:
            raise BoardError(f"{self.role}: could not enter the raw REPL on {self.port}: {e}{self._where()}") from e
        self._running = False

    def discard_input(self) -> None:
        """Drop what the port has buffered (stale output before a reset)."""
        self.stop_monitor()
        self.ensure_attached()
        serial = self.transport.serial
        while serial.in_waiting:
            serial.read(serial.in_waiting)

    def reset_into_repl(self, reset: Callable[[], None], timeout: float = 20) -> None:
        """The raw REPL of a board whose firmware has detached its REPL:
        stale output dropped, `reset` (the rig's way to reset this board),
        then the boot window caught (catch_boot)."""
        self.discard_input()
        reset()
        self.catch_boot(timeout)

    def catch_boot(self, timeout: float = 20) -> None:
        """Right after a reset: wait until the board offers a way in (a
        firmware's boot window, or a prompt when there is no main.py), then
        take the raw REPL with Ctrl-C before the firmware takes the port."""
        self.stop_monitor()
        self.ensure_attached()
        seen = self._read_until(rb"boot window|>>> $|raw REPL; CTRL-B to exit\r\n>$", timeout)
        if seen is None:
            raise BoardTimeout(f"{self.role}: no boot window or prompt within {timeout} s after reset{self._where()}")
        if b"boot window" in seen:
            self.take_boot_window()
        else:
            self.enter_raw_repl()

    def take_boot_window(self, timeout: float = 3) -> None:
        """In a firmware's boot window: Ctrl-C, and once more if the firmware
        asks for it (this project's bridge wants two, since a 0x03 in P1 data
        is a Ctrl-C too), then the raw REPL."""
        self.stop_monitor()
        self.transport.serial.write(b"\x03")
        self._read_until(rb"again within|stopped|>>> $", timeout)  # a firmware that asks nothing: go on
        self.enter_raw_repl()  # its own Ctrl-C is the second one

    def _read_until(self, pattern: bytes, timeout: float) -> bytes | None:
        """What the port printed up to the first match of pattern (over its
        last 512 bytes), or None when timeout passes first."""
        serial = self.transport.serial
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            seen = (seen + serial.read(max(1, serial.in_waiting)))[-512:]
            if regex.search(seen):
                return seen
        return None

    # --- code ---
    def _idle_raw_repl(self) -> SerialTransport:
        """The raw REPL prompt, interrupting a running command if need be."""
        if self.ensure_attached() or not self.transport.in_raw_repl or self._running:
            self.enter_raw_repl()
        return self.transport

    def exec(self, code: str, timeout: float = 10) -> str:
        t = self._idle_raw_repl()
        try:
            out, err = t.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise BoardTimeout(f"{self.role}: no answer within {timeout} s: {e}{self._where()}") from e
        if err:
            raise BoardExecError(self.role, code, err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    def eval(self, expr: str, timeout: float = 10):
        out = self.exec(f"print(repr({expr}))", timeout=timeout)
        try:
            return ast.literal_eval(out.strip())
        except (ValueError, SyntaxError) as e:
            raise BoardError(f"{self.role}: could not parse the board's answer to {expr!r}: {out!r}") from e

    def put(self, data: bytes, remote: str, progress: Callable[[int, int], None] | None = None) -> None:
        """Write a file to the board's flash; progress(done, total) as it goes."""
        t = self._idle_raw_repl()
        try:
            t.fs_writefile(remote, data, chunk_size=1024, progress_callback=progress)
        except (TransportError, TransportExecError, OSError) as e:
            raise BoardError(f"{self.role}: writing {remote} failed: {e}{self._where()}") from e

    def write_romfs(self, image: bytes, progress: Callable[[int, int], None] | None = None) -> None:
        """Write a ROMFS image to the board's ROMFS partition through vfs.rom_ioctl,
        the calls `mpremote romfs deploy` makes (written here because mpremote's
        is a command on a connection of its own). It takes effect at the next reset."""
        if not self.eval("hasattr(__import__('vfs'), 'rom_ioctl')"):
            raise BoardError(f"{self.role}: this firmware has no ROMFS (vfs.rom_ioctl): flash the ESP8266_GENERIC "
                             f"FLASH_2M_ROMFS variant (micropython.org/download/ESP8266_GENERIC){self._where()}")
        size = self.eval("(lambda d: d if isinstance(d, int) else len(d))(__import__('vfs').rom_ioctl(2, 0))")
        if size < 0:
            raise BoardError(f"{self.role}: the firmware has no ROMFS partition (rom_ioctl: {size}){self._where()}")
        if len(image) > size:
            raise BoardError(f"{self.role}: the ROMFS image is {len(image):,} B; the partition holds {size:,} B")
        self.exec("import vfs\nfrom binascii import a2b_base64\ntry:\n vfs.umount('/rom')\nexcept OSError:\n pass")
        self.eval(f"vfs.rom_ioctl(3, 0, {len(image)})", timeout=30)  # erases the sectors it needs
        step = 1024  # small enough for the chip's heap in the raw REPL
        for offset in range(0, len(image), step):
            chunk = image[offset:offset + step]
            chunk += bytes(-len(chunk) % 4)  # flash takes whole words
            data = binascii.b2a_base64(chunk, newline=False)
            self.exec(f"r = vfs.rom_ioctl(4, 0, {offset}, a2b_base64({data!r}))\nif r:\n raise OSError(r)")
            if progress is not None:
                progress(min(offset + step, len(image)), len(image))

    def remove_modules(self, names: list[str]) -> None:
        """Delete name.mpy and name.py from the filesystem for each name: copies
        there come first in sys.path and would shadow frozen or ROMFS modules."""
        self.exec("import os\nfor n in %r:\n for f in (n + '.mpy', n + '.py'):\n  try:\n   os.remove(f)\n"
                  "  except OSError:\n   pass\n" % (sorted(names),))

    def read(self, remote: str) -> bytes | None:
        """A file's bytes from the board's flash (mpremote's fs_readfile); None when there is no such file."""
        t = self._idle_raw_repl()
        try:
            return t.fs_readfile(remote)
        except OSError:
            return None
        except (TransportError, TransportExecError) as e:
            raise BoardError(f"{self.role}: reading {remote} failed: {e}{self._where()}") from e

    def sha256(self, remote: str) -> bytes | None:
        """The file's SHA-256 (mpremote's fs_hashfile: on the board where it has
        hashlib, else read back); None when there is no such file."""
        t = self._idle_raw_repl()
        try:
            return t.fs_hashfile(remote, "sha256")
        except OSError:
            return None
        except (TransportError, TransportExecError) as e:
            raise BoardError(f"{self.role}: hashing {remote} failed: {e}{self._where()}") from e
        finally:  # fs_hashfile leaves its buffer and hash in the REPL's globals: the chip's heap is small
            with contextlib.suppress(TransportError, TransportExecError):
                t.exec("for _n in ('buf', 'h'):\n globals().pop(_n, None)")

    def size(self, remote: str) -> int | None:
        """The file's size in bytes (mpremote's fs_stat); None when there is no such file."""
        t = self._idle_raw_repl()
        try:
            return t.fs_stat(remote).st_size
        except OSError:
            return None
        except (TransportError, TransportExecError) as e:
            raise BoardError(f"{self.role}: reading the size of {remote} failed: {e}{self._where()}") from e

    def mkdir(self, remote: str) -> None:
        self.exec(f"import os\ntry:\n os.mkdir({remote!r})\nexcept OSError:\n pass")

    # --- long-running commands ---
    def start(self, code: str) -> None:
        """Start code that keeps running; read its output with lines()."""
        t = self._idle_raw_repl()
        try:
            t.exec_raw_no_follow(code)
        except TransportError as e:
            raise BoardError(f"{self.role}: could not start code: {e}{self._where()}") from e
        self._running = True

    def lines(self, timeout: float, stop: Callable[[str], bool] | None = None) -> Iterator[tuple[float, str]]:
        """Yield (host time, line) of a running command's output as it
        arrives, until `stop(line)` is true, the command ends, or `timeout`.
        Reads byte by byte so that nothing after the command's end (the raw
        REPL's next prompt) is taken from the port."""
        serial = self.transport.serial
        deadline = time.monotonic() + timeout
        line = bytearray()
        while time.monotonic() < deadline:
            try:
                byte = serial.read(1)
            except OSError as e:
                self._running = False
                raise BoardError(f"{self.role}: port {self.device} failed while a command ran ({e}); "
                                 f"the command is lost, the next one reattaches{self._where()}") from e
            if not byte:
                continue
            if byte == b"\x04":
                self._running = False
                err = self._read_error_tail()
                if err:
                    raise BoardExecError(self.role, "(running command)", err)
                return
            if byte != b"\n":
                line += byte
                continue
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            line.clear()
            yield time.monotonic(), text
            if stop and stop(text):
                return
        raise BoardTimeout(f"{self.role}: running command gave no end within {timeout} s{self._where()}")

    def _read_error_tail(self) -> str:
        """The raw REPL ends a command with `out \\x04 err \\x04`; return err."""
        data = self.transport.read_until(1, b"\x04", timeout=5)
        return data.rstrip(b"\x04").decode("utf-8", "replace")

    def interrupt(self) -> None:
        """Ctrl-C a running command and return to the raw REPL prompt."""
        self.enter_raw_repl()

    # --- reset ---
    def machine_reset(self, expect: bytes | None = None, timeout: float = 15) -> str:
        """machine.reset() from the raw REPL; on a real board the same as
        pressing RST. Returns what the board printed until `expect` appears."""
        t = self._idle_raw_repl()
        t.exec_raw_no_follow("import machine\nmachine.reset()")
        t.in_raw_repl = False
        if expect is None:
            return ""
        data = t.read_until(1, expect, timeout=timeout)
        if not data.endswith(expect):
            raise BoardTimeout(f"{self.role}: {expect!r} not seen within {timeout} s after reset{self._where()}")
        return data.decode("utf-8", "replace")

    # --- free-running output (the bridge's log) ---
    def start_monitor(self) -> None:
        """Read the port in the background so the board's log keeps flowing
        into the log file and expect_line() while the board runs on its own."""
        if self._monitor is not None:
            return
        self.ensure_attached()
        self._monitor_stop.clear()
        self._monitor_failure = None

        def pump():
            while not self._monitor_stop.is_set():
                try:
                    serial = self.transport.serial
                    serial.read(max(1, serial.in_waiting))
                except (OSError, TypeError):  # TypeError: pyserial mid-close
                    if self._monitor_stop.is_set():
                        return
                    self._gone = self._gone or OSError("read failed")
                    try:
                        self.reattach(stop=self._monitor_stop)
                    except PortGoneError as e:
                        if not self._monitor_stop.is_set():
                            self._monitor_failure = e  # the next user of the port sees it
                        return

        self._monitor = threading.Thread(target=pump, name=f"{self.role}-monitor", daemon=True)
        self._monitor.start()

    def stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor_stop.set()
            self._monitor.join()
            self._monitor = None

    def mark(self) -> int:
        """Position in the log; expect_line(since=mark) looks only after it."""
        return len(self.log.lines)

    def expect_line(self, pattern: str, timeout: float, since: int = 0) -> re.Match:
        """Wait for a log line matching `pattern` (needs the monitor running)."""
        return self.expect_lines(pattern, 1, timeout, since)[0]

    def expect_lines(self, pattern: str, count: int, timeout: float, since: int = 0) -> list[re.Match]:
        """Wait until `count` log lines from `since` on match `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        found: list[re.Match] = []
        start = since
        while len(found) < count:
            hit = self.log.wait_for(regex, start, max(0.0, deadline - time.monotonic()))
            if hit is None:
                raise BoardTimeout(f"{self.role}: {len(found)} of {count} lines matching {pattern!r} "
                                   f"within {timeout} s{self._where()}")
            found.append(hit[1])
            start = hit[0] + 1
        return found
