"""The chip's own time on a real board: the programs of hil/sim/clock.py run
through the board's raw REPL (hil.rig.board, on mpremote's transport), timed
by the board's own time.ticks_ms().

What the figures stand for is decided with the board: they are an ESP8266's
only if the board is one (sys.platform, os.uname()), and an 80 MHz one's only
if it computes at 80 MHz, so a board set to 160 MHz is set back to 80 for the
runs and restored after.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from ..sim.clock import ChipProgram, parse_runs
from .board import Board, BoardError

CHIP_HZ = 80_000_000  # the clock the published figures and the virtual board's factor are for
_IDENTITY = ("(sys.platform, tuple(os.uname()), sys.implementation.name, tuple(sys.implementation.version)[:3], "
             "sys.version, machine.freq())")
_UNAME = ("sysname", "nodename", "release", "version", "machine")


class NotAnEsp8266(BoardError):
    """The board answers but is another chip: its times would calibrate the virtual ESP8266 wrongly."""


@dataclass(frozen=True)
class BoardIdentity:
    """What the board says it is, as the calibration file records it."""

    platform: str  # sys.platform
    uname: dict[str, str]  # os.uname(), by field
    implementation: str  # e.g. "micropython 1.23.0"
    version: str  # sys.version
    freq_hz: int  # machine.freq() as found

    def describe(self) -> str:
        return f"{self.uname.get('machine', '?')}, {self.implementation}, {self.freq_hz // 1_000_000} MHz"

    def record(self) -> dict:
        return asdict(self)


def identify(board: Board) -> BoardIdentity:
    """What the board is; NotAnEsp8266 for another chip."""
    board.exec("import os, sys, machine")
    platform, uname, name, version, sys_version, freq = board.eval(_IDENTITY)
    identity = BoardIdentity(platform, dict(zip(_UNAME, uname)), f"{name} {'.'.join(map(str, version))}",
                             sys_version, freq)
    if platform != "esp8266":
        raise NotAnEsp8266(f"the board on {board.port} is not an ESP8266: sys.platform is {platform!r} "
                           f"({identity.describe()}). Its times would make the virtual ESP8266 compute as that "
                           "chip does: calibrate with an ESP8266 board (a D1 mini) running MicroPython")
    return identity


@contextmanager
def at_chip_clock(board: Board, found_hz: int) -> Iterator[None]:
    """The board at 80 MHz for the runs, back at the clock it had after."""
    if found_hz != CHIP_HZ:
        board.exec(f"machine.freq({CHIP_HZ})")
    try:
        yield
    finally:
        if found_hz != CHIP_HZ:
            board.exec(f"machine.freq({found_hz})")


def run(board: Board, program: ChipProgram, runs: int) -> list[float]:
    """The ms of each of `runs` runs of `program`, by the board's ticks_ms."""
    # A board a few times slower than the published figure still finishes; a hung one does not.
    timeout = 30 + 5 * runs * program.chip_ms / 1000
    out = board.exec(program.script(runs), timeout=timeout)
    found = parse_runs(out)
    if found is None:
        raise BoardError(f"{board.role}: {program.name} printed no result: {out.strip()[-300:]!r}")
    return [float(wall_ms) for wall_ms, _, _ in found]
