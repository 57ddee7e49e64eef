"""A virtual ESP8266: the MicroPython unix port behind a pty that is its USB port.

The interpreter's stdio sits on one pty; the board relays it to a second pty,
the "USB serial port" host tools open. The USB port outlives the interpreter,
which exits where a board soft-resets: the board restarts it the way the
ESP8266 port comes back (ports/esp8266/main.c) — `MPY: soft reboot`, boot.py,
main.py only when the friendly REPL was active, raw REPL again when it was raw.
os.dupterm(None, 1) in the firmware detaches the REPL: host bytes then go to
UART0 RX (shared with the P1 line), as on a D1 mini.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import signal
import termios
import time
import tty
from pathlib import Path
from typing import Callable

from ..procutil import die_with_parent
from .model import BoardModel, board_model

HAL_DIR = Path(__file__).with_name("hal")
EXIT_HARD_RESET = 77  # machine.reset() in the HAL
# ESP8266 reset causes (rst_info.reason), as machine.reset_cause() reports them.
PWRON_RESET, SOFT_WDT_RESET, SOFT_RESET, HARD_RESET = 0, 3, 4, 6

# What the ESP8266 ROM prints at 74880 baud, as a 115200-baud terminal shows it.
_ROM_NOISE = b"\r\n\x00l\x9c\x9e|\x00\x8c\x0c\x8c\x8c\x12\x02\xec\x8c\r\n"
_RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_PROMPT = re.compile(rb"(?:\r\n|^)>>> $")
_BARE_LF = re.compile(rb"(?<!\r)\n")
# The board's boot ROM. A Ctrl-C in the instant before _simboot ignores it
# aborts the import (and MicroPython forgets the half-imported module): retry.
BOOT = "while 1:\n try:\n  import _simboot\n  break\n except KeyboardInterrupt:\n  pass\n"
_BANNER = re.compile(rb"MicroPython [^\r\n]*\r*\nType \"help\(\)\" for more information\.\r*\n")


def _child_setup() -> None:
    # New session with the pty as controlling terminal, so Ctrl-C from the
    # host becomes SIGINT → KeyboardInterrupt as on a board; die with the rig.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    die_with_parent(signal.SIGKILL)
    # Until MicroPython installs its own handler, Ctrl-C must not kill the
    # CPython wrapper that loads it (a chip ignores Ctrl-C while booting).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def open_pty(raw: bool) -> tuple[int, int]:
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    if raw:
        tty.setraw(slave)
    else:
        # What the REPL restores while code runs: no echo (a board does not
        # echo), no ISIG (Ctrl-C is turned into SIGINT by the board, see
        # _on_usb_input), no output processing (the REPL writes CRLF itself;
        # _crlf() fixes the bare LFs of print()).
        attrs[0] &= ~(termios.ICRNL | termios.IXON)
        attrs[1] &= ~termios.OPOST
        attrs[3] = termios.ICANON
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(master, False)
    return master, slave


class VirtualBoard:
    """One board: flash directory, USB pty, interpreter lifecycle."""

    def __init__(self, name: str, flash_dir: Path, env: dict[str, str], free_at_main: int,
                 to_uart0_rx: Callable[[bytes], None] | None = None, usb_link: Path | None = None,
                 model: BoardModel | None = None):
        self.name = name
        self.flash_dir = Path(flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.model = model or board_model()
        self.free_at_main = free_at_main
        # The SDK's own flash record (WiFi mode and credentials) and the ROMFS
        # partition (FLASH_2M_ROMFS firmware): outside the filesystem, kept across resets.
        self._env = dict(env, HIL_SIM_WIFI_STORE=str(self.flash_dir.parent / "wifi-sdk-config"),
                         HIL_SIM_ROMFS=str(self.flash_dir.parent / "romfs-partition"),
                         **self.model.env(free_at_main))
        self._to_uart0_rx = to_uart0_rx or (lambda data: None)
        self.repl_attached = True
        self.resets: list[int] = []  # reset cause of each start, power-on first
        self.reset_at: list[float] = []  # host monotonic time of each start
        self._raw_mode = False
        self._entering_raw = False
        self._ctrl_a_sent = False
        self._last_out_cr = False
        self._pending_out = bytearray()
        self._tail = b""
        self._proc: asyncio.subprocess.Process | None = None
        self._int_master: int | None = None
        self._supervisor: asyncio.Task | None = None
        self._reset_request: int | None = None
        self._stopping = False
        self._spawned = asyncio.Event()
        self._powered = asyncio.Event()
        self._powered.set()
        # A stable name for the USB port, as udev's /dev/serial/by-path/ links
        # are: it follows the port when a re-plug gives it a new /dev/pts/N.
        self.usb_link = Path(usb_link) if usb_link else None
        self.usb_master: int | None = None
        self._usb_slave: int | None = None
        self.usb_port = ""
        self._open_usb()

    def _open_usb(self) -> None:
        self.usb_master, self._usb_slave = open_pty(raw=True)
        self.usb_port = os.ttyname(self._usb_slave)
        if self.usb_link is not None:
            self.usb_link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.usb_link.with_name(self.usb_link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.usb_port)
            tmp.replace(self.usb_link)  # atomic: a reader sees the old port or the new one

    def _close_usb(self) -> None:
        if self.plugged:
            asyncio.get_running_loop().remove_reader(self.usb_master)
        if self.usb_link is not None:
            self.usb_link.unlink(missing_ok=True)
        for fd in (self.usb_master, self._usb_slave):
            if fd is not None:
                os.close(fd)
        self.usb_master = self._usb_slave = None
        self.usb_port = ""

    @property
    def pid(self) -> int | None:
        """The interpreter's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def plugged(self) -> bool:
        return self.usb_master is not None

    # --- lifecycle ---
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.usb_master, self._on_usb_input)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"board-{self.name}")
        await self._spawned.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._powered.set()  # let an unpowered supervisor see _stopping
        self._kill()
        if self._supervisor:
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._close_usb()

    def unplug(self) -> None:
        """Pull the USB cable: the port disappears from the host and, a D1
        mini being powered by USB, the chip loses power."""
        if not self.plugged:
            return
        self._powered.clear()
        self._kill()
        self._close_usb()

    def plug(self) -> None:
        """Plug the cable back in: a new port (the kernel may give it another
        name; usb_link follows it) and a power-on reset."""
        if self.plugged:
            return
        self._open_usb()
        asyncio.get_running_loop().add_reader(self.usb_master, self._on_usb_input)
        self._powered.set()

    def hard_reset(self) -> None:
        """The EN/RST pin: what DTR/RTS do on a D1 mini."""
        self._reset_request = HARD_RESET
        self._kill()

    def _kill(self) -> None:
        if self._proc and self._proc.returncode is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def _supervise(self) -> None:
        cause, run_main, chip_boot = PWRON_RESET, True, True
        while not self._stopping:
            self.resets.append(cause)
            self.reset_at.append(time.monotonic())
            self.repl_attached = True
            rc = await self._run_interpreter(cause, run_main, chip_boot)
            chip_boot = True  # every way back but a soft reboot restarts the chip
            if self._stopping:
                break
            if not self._powered.is_set():
                await self._powered.wait()
                if self._stopping:
                    break
                cause, run_main, self._raw_mode, self._reset_request = PWRON_RESET, True, False, None
                self._entering_raw = False
                self._usb_write(_ROM_NOISE)
            elif self._reset_request is not None or rc in (EXIT_HARD_RESET, -signal.SIGALRM):
                # machine.reset() is a software restart; SIGALRM is the soft
                # watchdog running out (_vboard.watchdog).
                cause = (self._reset_request if self._reset_request is not None
                         else SOFT_WDT_RESET if rc == -signal.SIGALRM else SOFT_RESET)
                self._reset_request = None
                self._raw_mode = False
                run_main = True
                self._usb_write(_ROM_NOISE)
            else:
                # Soft reboot keeps the chip's reset cause and REPL mode, and
                # restarts only MicroPython: no boot ROM, no SDK start-up.
                self._usb_write(b"MPY: soft reboot\r\n")
                chip_boot = False
                run_main = not self._raw_mode
                self._entering_raw = self._raw_mode

    async def _run_interpreter(self, cause: int, run_main: bool, chip_boot: bool = True) -> int:
        master, slave = open_pty(raw=False)
        # The virtual ESP8266 has the HAL frozen; the approximate board takes it from the path.
        path = ".frozen" if self.model.faithful else f".frozen:{HAL_DIR}"
        env = dict(os.environ, **self._env, MICROPYPATH=path,
                   HIL_SIM_RESET_CAUSE=str(cause), HIL_SIM_RUN_MAIN="1" if run_main else "0",
                   HIL_SIM_CHIP_BOOT="1" if chip_boot else "0")
        self._int_master = master
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._on_interpreter_output)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.model.interpreter, "-X", f"heapsize={self.model.heapsize(self.free_at_main)}",
                "-i", "-c", BOOT,
                stdin=slave, stdout=slave, stderr=slave, cwd=self.flash_dir, env=env,
                preexec_fn=_child_setup)
        finally:
            os.close(slave)
        self._spawned.set()
        rc = await self._proc.wait()
        loop.remove_reader(master)
        self._drain(master)
        os.close(master)
        self._int_master = None
        return rc

    # --- byte routing ---
    def _on_usb_input(self) -> None:
        if not self.plugged:
            return
        try:
            data = os.read(self.usb_master, 4096)
        except OSError:
            return
        if not self.repl_attached:
            self._to_uart0_rx(data)
        else:
            self._to_repl(data)

    def _sigint_caught(self) -> bool:
        """True while MicroPython has its SIGINT handler installed, i.e. while
        it executes code (it resets SIGINT to default around the REPL)."""
        if not self._proc or self._proc.returncode is not None:
            return False
        try:
            with open(f"/proc/{self._proc.pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except OSError:
            pass
        return False

    def uart0_rx_to_repl(self, data: bytes) -> None:
        """P1 bytes while the REPL owns UART0 land in the REPL, as on a board:
        UART0 RX is one pin, whether the bytes come from USB or the P1 line."""
        self._to_repl(data)

    def _to_repl(self, data: bytes) -> None:
        if self._int_master is None or self._entering_raw:
            return  # the chip is rebooting; bytes are lost, as on the wire
        if b"\x03" in data and self._sigint_caught():
            # Code is running: the chip's UART ISR turns Ctrl-C into
            # KeyboardInterrupt whatever runs. At a prompt the REPL reads
            # the byte itself (and SIGINT would kill the unix port there).
            data = data.replace(b"\x03", b"")
            os.kill(self._proc.pid, signal.SIGINT)
        self._write_interpreter(data)

    def _write_interpreter(self, data: bytes) -> None:
        try:
            os.write(self._int_master, data)
        except BlockingIOError:
            pass  # tty input full: dropped like an overrun UART

    def _on_interpreter_output(self) -> None:
        self._drain(self._int_master)

    def _drain(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EIO:  # interpreter gone
                    return
                raise
            if not data:
                return
            self._on_output(data)

    def _crlf(self, data: bytes) -> bytes:
        """print() on the ESP8266 port ends lines with CRLF; the unix port
        writes a bare LF. The REPL's own lines already carry CR."""
        out = _BARE_LF.sub(b"\r\n", (b"\r" if self._last_out_cr else b"\0") + data)[1:]
        self._last_out_cr = data.endswith(b"\r")
        return out

    def _on_output(self, data: bytes) -> None:
        data = self._crlf(data)
        seen = self._tail + data
        self._tail = seen[-64:]
        if self._entering_raw:
            self._pending_out += data
            self._finish_entering_raw()
            return
        if _RAW_PROMPT in seen:
            self._raw_mode = seen.rfind(_RAW_PROMPT) > seen.rfind(b">>> ")
        elif _FRIENDLY_PROMPT.search(seen):
            self._raw_mode = False
        self._usb_write(data)

    def _finish_entering_raw(self) -> None:
        """After a soft reset from the raw REPL the board is back in the raw REPL
        without a banner; the unix port starts friendly, so switch it and hide
        the banner, keeping what boot.py printed."""
        out = bytes(self._pending_out)
        banner = _BANNER.search(out)
        if banner and out.endswith(b">>> ") and _RAW_PROMPT not in out:
            if not self._ctrl_a_sent:
                os.write(self._int_master, b"\x01")
                self._ctrl_a_sent = True
            return
        if _RAW_PROMPT in out:
            before = out[:banner.start()] if banner else b""
            after = out[out.index(_RAW_PROMPT):]
            self._pending_out.clear()
            self._entering_raw = False
            self._ctrl_a_sent = False
            self._raw_mode = True
            self._usb_write(before + after)

    def _usb_write(self, data: bytes) -> None:
        if not self.plugged:
            return  # no cable, no power: nothing to say
        try:
            os.write(self.usb_master, data)
        except BlockingIOError:
            pass  # nobody reading the USB port: output is lost, as on a board
