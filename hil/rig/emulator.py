"""Host side of the meter emulator's command protocol (meter_emulator/PROTOCOL.md).

Runs `protocol.serve()` on the emulator board through the raw REPL and then
speaks the line protocol over the same port. Copying files needs the REPL, so
the client stops the loop (Ctrl-C) for that and restarts it on the next command.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Callable

from .board import Board, BoardError

PROTOCOL = 1
CAPTURE_DIR_ON_BOARD = "captures"


class EmulatorError(BoardError):
    """The emulator refused a command or broke the protocol."""


@dataclass(frozen=True)
class TelegramSent:
    seq: int
    capture: str
    nbytes: int
    host_end: float  # time.monotonic() when the host read the `sent` event
    board_start: int  # emulator ticks_ms at the first byte
    board_end: int  # emulator ticks_ms after the last byte left the UART
    faults: tuple[str, ...] = ()
    offset: int = 0  # where the telegram starts in its capture file


def put_capture(board: Board, name: str, data: bytes,
                progress: Callable[[int, int], None] | None = None) -> tuple[str, bool]:
    """Store capture bytes in the emulator's captures/ (the rig and every command
    upload this way): nothing is copied when the board holds the same bytes
    already, and a copy is checked by its size on the board. Returns the path
    on the board and whether it was copied; the board must be in its REPL."""
    remote = f"{CAPTURE_DIR_ON_BOARD}/{name}"
    board.mkdir(CAPTURE_DIR_ON_BOARD)
    if board.sha256(remote) == hashlib.sha256(data).digest():
        return remote, False
    board.put(data, remote, progress=progress)
    size = board.size(remote)
    if size != len(data):
        raise BoardError(f"{board.role}: {remote} on the board has {size} bytes, expected {len(data)}")
    return remote, True


class EmulatorClient:
    def __init__(self, board: Board):
        self.board = board
        self.serving = False
        self.firmware = ""
        # Held while a command or a play owns the port (a play runs in a
        # test's background thread while the test goes on).
        self._busy = threading.RLock()

    def _send(self, line: str) -> None:
        self.board.transport.serial.write(line.encode() + b"\r\n")

    def _next(self, timeout: float) -> tuple[float, dict]:
        """The next `@` message, with the host time it arrived."""
        try:
            for at, line in self.board.lines(timeout):
                if line.startswith("@"):
                    try:
                        return at, json.loads(line[1:])
                    except ValueError as e:
                        raise EmulatorError(f"emulator sent a malformed message {line!r}: {e}") from e
        except EmulatorError:
            raise
        except BoardError:
            self.serving = False  # the port failed under the loop
            raise
        self.serving = False
        raise EmulatorError(f"the emulator's command loop ended{self.board._where()}")

    def start(self, timeout: float = 10) -> None:
        if self.board.ensure_attached():
            self.serving = False  # a re-plugged board has rebooted: its loop is gone
        if self.serving:
            return
        self.board.start("import protocol\nprotocol.serve()")
        _, ready = self._next(timeout)
        if ready.get("event") != "ready":
            raise EmulatorError(f"expected the emulator's ready event, got {ready}")
        if ready.get("protocol") != PROTOCOL:
            raise EmulatorError(f"emulator speaks protocol {ready.get('protocol')}, this host {PROTOCOL}: "
                                "deploy the meter_emulator/ firmware of this checkout")
        self.firmware = ready.get("firmware", "")
        self.serving = True

    def stop_serving(self) -> None:
        """Back to the raw REPL (e.g. to copy files)."""
        if self.serving:
            self.board.enter_raw_repl()
            self.serving = False

    def command(self, text: str, timeout: float = 10, on_event: Callable[[float, dict], None] | None = None) -> dict:
        """Send one command; return its reply, raising EmulatorError on refusal.
        Events that arrive meanwhile go to `on_event`."""
        with self._busy:
            self.start()
            self._send(text)
            while True:
                at, msg = self._next(timeout)
                if "event" in msg:
                    if on_event:
                        on_event(at, msg)
                    continue
                if not msg.get("ok"):
                    raise EmulatorError(f"emulator refused {text!r}: {msg.get('error')}")
                return msg

    def status_if_idle(self) -> dict | str:
        """The emulator's `status` reply for a failure report, or why there is
        none: never waits for a play in progress, never raises."""
        if not self.serving:
            return "(not in its command loop: no status asked)"
        if not self._busy.acquire(blocking=False):
            return "(busy playing: no status asked)"
        try:
            return self.command("status", timeout=3)
        except BoardError as e:
            return f"(no answer: {str(e).splitlines()[0]})"
        finally:
            self._busy.release()

    def play(self, files: list[str], interval_ms: int = 10000, count: int = 1,
             on_sent: Callable[[TelegramSent], None] | None = None, timeout: float | None = None) -> list[TelegramSent]:
        """Play and wait for the `done` event; returns one record per telegram."""
        if timeout is None:
            timeout = 10 + count * len(files) * (interval_ms / 1000 + 0.5)
        sent: list[TelegramSent] = []
        done = []

        def on_event(at: float, msg: dict) -> None:
            if msg["event"] == "sent":
                record = TelegramSent(msg["seq"], msg["file"], msg["bytes"], at, msg["start"], msg["end"],
                                      tuple(msg.get("faults", ())), msg.get("offset", 0))
                sent.append(record)
                if on_sent:
                    on_sent(record)
            elif msg["event"] == "done":
                done.append(msg)

        with self._busy:
            self.command(f"play {','.join(files)} interval_ms={int(interval_ms)} count={int(count)}",
                         on_event=on_event)
            while not done:
                at, msg = self._next(timeout)
                if "event" in msg:
                    on_event(at, msg)
                else:
                    raise EmulatorError(f"unexpected reply while playing: {msg}")
        return sent
