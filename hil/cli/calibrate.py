"""`hil calibrate`: your own ESP8266's time, for the virtual boards' clock.

    hil calibrate [--port SPEC] [--out FILE] [--runs N] [--program NAME ...]

Runs the chip programs of hil/sim/clock.py (integer and float arithmetic, long
integers, asyncio) on a real ESP8266 running MicroPython, through its raw REPL,
and writes the board's own times (time.ticks_ms, median of --runs runs, at
80 MHz) to a calibration file: by default ~/.config/p1-hil/chip-calibration.json
($XDG_CONFIG_HOME), where the virtual boards find it; HIL_CHIP_CALIBRATION=FILE
names another (`published`: the published figures). At --board-speed chip the
virtual ESP8266 is then calibrated on your board's int_add time, and the pytest
header, the report and `python -m hil.sim.clock` say "your board on PORT, DATE".

The board must sit at its REPL: a firmware that took the REPL's UART (this
project's bridge, after its boot window) does not answer; remove its main.py
or calibrate before deploying. Exit codes: 0 written, 1 the calibration program
failed on the board, 2 a usage or environment error (message on stderr).
"""
from __future__ import annotations

import datetime
import os
import statistics
from pathlib import Path

from rich.markup import escape

from .ui import console, fail, run_alone, warn


def _programs(names: list[str] | None) -> list[str]:
    from ..sim.clock import CALIBRATION, NAMES

    chosen = list(dict.fromkeys(names or NAMES))
    # The factor is calibrated on this one: without it the file is of no use.
    return [CALIBRATION.name] + [n for n in chosen if n != CALIBRATION.name]


def _where_used(out: Path) -> str:
    from ..sim.clock import CALIBRATION_ENV, calibration_file

    named = os.environ.get(CALIBRATION_ENV)
    if named and Path(named).resolve() != out.resolve():
        return (f"{CALIBRATION_ENV}={named} is set, so the virtual boards use that instead; "
                f"set {CALIBRATION_ENV}={out} to use this one")
    if named or out.resolve() == calibration_file().resolve():
        return "the virtual boards use it from now on at --board-speed chip"
    return f"the virtual boards use it with {CALIBRATION_ENV}={out} in the environment"


def cmd_calibrate(args) -> int:
    from ..rig import discover
    from ..rig.board import Board, BoardError, BoardExecError
    from ..rig.calibrate import CHIP_HZ, at_chip_clock, identify, run
    from ..sim.clock import BY_NAME, CALIBRATION, ChipFigures, calibration_file

    if args.runs < 1:
        return fail("--runs: at least 1")
    try:
        port = discover.resolve(args.port, "board", option="--port")
    except discover.DiscoverError as e:
        return fail(str(e))
    out = Path(args.out) if args.out else calibration_file()
    medians: dict[str, float] = {}
    runs_ms: dict[str, list[float]] = {}
    board = Board("board", port)
    try:
        with board:
            try:
                board.enter_raw_repl()
            except BoardError as e:
                raise BoardError(f"the board on {port} does not answer at its REPL. Is MicroPython on it "
                                 "(hil flash --port ... --image ...)? A firmware that took the REPL's UART (this "
                                 "project's bridge does after its boot window) does not answer either: remove its "
                                 f"main.py, or calibrate before deploying.\n{e}") from e
            identity = identify(board)
            console.print(f"board on {escape(port)}: {escape(identity.describe())}", soft_wrap=True)
            if identity.freq_hz != CHIP_HZ:
                console.print(f"it runs at {identity.freq_hz // 1_000_000} MHz: set to 80 MHz for the runs, "
                              "as the published figures and the virtual board's factor are, and back after", soft_wrap=True)
            with at_chip_clock(board, identity.freq_hz):
                for name in _programs(args.program):
                    program = BY_NAME[name]
                    console.print(f"{name:11} {program.what}: {args.runs} runs ...", end=" ", soft_wrap=True)
                    try:
                        runs = run(board, program, args.runs)
                    except BoardExecError as e:
                        if program is CALIBRATION:
                            raise
                        console.print("[red]failed[/]")
                        warn(f"{name} raised on the board; the virtual boards keep its published figure:\n"
                             f"{e.traceback.strip()}")
                        continue
                    medians[name], runs_ms[name] = float(statistics.median(runs)), runs
                    console.print(f"{medians[name]:,.0f} ms (runs {' / '.join(f'{r:,.0f}' for r in runs)}); "
                                  f"published {program.chip_ms:,} ms: ×{medians[name] / program.chip_ms:.2f}", soft_wrap=True)
    except BoardExecError as e:
        return fail(f"{CALIBRATION.name}, the program the virtual board is calibrated on, failed on the board "
                    f"on {port}; nothing written:\n{e.traceback.strip()}", code=1)
    except BoardError as e:
        return fail(str(e))
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    figures = ChipFigures(medians, port, date, identity.record())
    try:
        figures.save(out, runs_ms)
    except OSError as e:
        return fail(f"cannot write {out}: {e.strerror or e}; pass --out FILE somewhere you may write")
    console.print(f"[green]wrote[/] {escape(str(out))}: {len(medians)} programs measured on {escape(port)}; "
                  f"{escape(_where_used(out))}", soft_wrap=True)
    return 0


def add_parsers(sub) -> None:
    """Add `calibrate` to an argparse subparsers object."""
    from ..sim.clock import NAMES

    p = sub.add_parser("calibrate", help="time the chip programs on your ESP8266; the virtual boards then keep "
                                         "its time (a calibration file)")
    p.add_argument("--port", metavar="SPEC", help="the board's port: a device path, serial:XYZ or location:1-1.2 "
                                                  "(see `hil boards`; default: the only board attached)")
    p.add_argument("--out", metavar="FILE", help="the calibration file to write (default "
                                                 "~/.config/p1-hil/chip-calibration.json, where the virtual boards "
                                                 "look; HIL_CHIP_CALIBRATION=FILE names another)")
    p.add_argument("--runs", type=int, default=3, metavar="N", help="runs of each program; the median counts "
                                                                    "(default %(default)s)")
    p.add_argument("--program", action="append", choices=NAMES, metavar="NAME",
                   help=f"only this program, and int_add always (repeatable; default all: {', '.join(NAMES)})")
    p.set_defaults(func=cmd_calibrate)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
