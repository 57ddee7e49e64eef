"""The chip's time: how fast the virtual ESP8266 computes, and the figures it is calibrated to.

The virtual board runs MicroPython a few hundred times faster than an 80 MHz
ESP8266. At `--board-speed chip` (cmod/vboard/vboard_clock.c) it counts the CPU
time its interpreter spends and sleeps so that its computing takes `factor`
times as long, where `factor` is the chip's time for the calibration program
over this host's CPU time for the same program, measured here on the board
binary itself, once per run (pin_host_cpu: a pytest run's header measures it
for every rig the run starts). `host` leaves the board at the host's speed.

The chip's times are published figures: shaoziyang/micropython_benchmarks
(README, "Reference test results", row esp8266, MicroPython v1.23.0 at 80 MHz,
38,016 B heap; commit 46c413b, 2025-06-25), the programs below written to do
the same work as its `benchmark.py`; and asyncio's task switch from Peter
Hinch's micropython-async (`v3/as_demos/rate.py`: 1,495 us per switch of 100
minimal tasks on an ESP8266 at its standard clock). One program calibrates; the
others show how far one factor holds for other work (docs/FIDELITY.md gives the
spread).

A user with an ESP8266 measures their own chip with `hil calibrate --port PORT`
(hil/cli/calibrate.py), which writes a calibration file. ChipFigures says which
figures count: HIL_CHIP_CALIBRATION names the file (or `published`), else the
file at calibration_file() counts when it exists, else the published figures.
Nothing else reads the file.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..jsonfile import read_json

SPEEDS = ("chip", "host")
# The host's by default until the suite passes at the chip's in CI, run after
# run (docs/FIDELITY.md, "CPU speed": on 2026-12-07 two fresh-clone runs with
# `chip` as the default and a run of the HIL suite at it each failed a scenario
# at the edge of the chip's speed); --board-speed chip runs the chip's, and the
# seed-style reference is always judged at it.
DEFAULT_SPEED = "host"
# The speed of rigs for tests that judge no time (deploying, configs, DNS, the
# watchdog, the USB driver, boot and WiFi times, which are modelled apart from
# the CPU): the host's, whatever the default, as at the chip's they only take
# longer (docs/FIDELITY.md, "CPU speed").
UNTIMED_SPEED = "host"
SOURCE = ("shaoziyang/micropython_benchmarks README, esp8266 row: MicroPython v1.23.0, 80 MHz "
          "(github.com/shaoziyang/micropython_benchmarks, commit 46c413b)")
ASYNCIO_SOURCE = ("peterhinch/micropython-async v3/as_demos/rate.py: 100 minimal coros scheduled at an interval "
                  "of 1495 us on an ESP8266 at its standard clock (uasyncio V3)")


@dataclass(frozen=True)
class ChipProgram:
    """A small program and the time it took on an 80 MHz ESP8266."""

    name: str
    what: str
    body: str  # MicroPython source: defines run(), which does the work once
    chip_ms: float
    source: str = SOURCE  # where chip_ms comes from

    def script(self, repeat: int = 1) -> str:
        """A script that runs the program `repeat` times and prints one JSON
        line: the wall-clock ms and the board's CPU ms of each run."""
        return _HARNESS.format(body=self.body, repeat=repeat)


_LOOP = "def run():\n    p = [100000, {a}, {b}]\n    for i in range(p[0]):\n        C = p[1] {op} p[2]\n"
_PI = """def run():
    digits = {digits}
    extra = 8
    one = 10 ** (digits + extra)
    t, c, n, na, d, da = 3 * one, 3 * one, 1, 0, 0, 24
    while t > 1:
        n, na, d, da = n + na, na + 8, d + da, da + 32
        t = t * n // d
        c += t
    return c // (10 ** extra)
"""
# 100 tasks that each yield and count, until they have counted 1,000 times:
# asyncio's round-robin scheduling, as rate.py measures it (interval per count).
_ASYNCIO = """import asyncio
count = 0
async def spin():
    global count
    while True:
        await asyncio.sleep_ms(0)
        count += 1
async def until(n):
    for _ in range(100):
        asyncio.create_task(spin())
    while count < n:
        await asyncio.sleep_ms(0)
def run():
    global count
    count = 0
    asyncio.run(until(1000))
    asyncio.new_event_loop()
"""
# Each run is timed as benchmark.py times it (ticks_ms around the call, after a
# collection), and by the board's own CPU clock where the board has one.
_HARNESS = """import gc, os, time
try:
    import _vboard, array
    _st = array.array('i', [0, 0, 0, 0])
    _vboard.clock_factor(float(os.getenv('HIL_SIM_CPU_FACTOR') or 0))
except ImportError:
    _vboard = None
def _cpu_us():
    if _vboard is None:
        return 0, 0
    _vboard.clock_stats(_st)
    return _st[3], _st[1]
{body}
_out = []
for _ in range({repeat}):
    gc.collect()
    _c, _t = _cpu_us(), time.ticks_ms()
    run()
    _e = _cpu_us()
    _out.append((time.ticks_diff(time.ticks_ms(), _t), (_e[0] - _c[0]) / 1000, (_e[1] - _c[1]) / 1000))
print('CHIP-PROGRAM', _out)
"""

PROGRAMS = (
    ChipProgram("int_add", "integer addition, 100,000 times", _LOOP.format(a=12345678, b=56781234, op="+"), 2133),
    ChipProgram("int_mul", "integer multiplication (long integers), 100,000 times",
                _LOOP.format(a=12345678, b=56781234, op="*"), 6114),
    ChipProgram("int_div", "integer true division, 100,000 times", _LOOP.format(a=99999991, b=45481, op="/"), 2553),
    ChipProgram("float_add", "float addition, 100,000 times",
                _LOOP.format(a=12345678.1234, b=56781234.5678, op="+"), 2444),
    ChipProgram("float_mul", "float multiplication, 100,000 times",
                _LOOP.format(a=12345678.1234, b=56781234.5678, op="*"), 2487),
    ChipProgram("float_div", "float division, 100,000 times",
                _LOOP.format(a=99999991.2345, b=45481.1357, op="/"), 2743),
    ChipProgram("float_pow", "float power (libm pow), 100,000 times",
                _LOOP.format(a=1234.5678, b=2.3456, op="**"), 11543),
    ChipProgram("pi_1000", "pi to 1,000 digits (long integers, the GC)", _PI.format(digits=1000), 1868),
    ChipProgram("asyncio_100", "asyncio: 100 tasks yielding, 1,000 task switches", _ASYNCIO, 1495,
                ASYNCIO_SOURCE),
)
BY_NAME = {p.name: p for p in PROGRAMS}
NAMES = tuple(BY_NAME)
# The calibration program: plain bytecode, what a firmware's own code is made of.
CALIBRATION = BY_NAME["int_add"]
# Runs of the calibration program; the least CPU time counts (measure_cpu_ms).
_CALIBRATION_RUNS = 5


class ClockError(Exception):
    """The chip's figures or a program's run on a board failed; the message says what to do."""


# --- where the chip's figures come from ---

CALIBRATION_ENV = "HIL_CHIP_CALIBRATION"  # a calibration file, or `published`
CALIBRATION_FORMAT = "p1-hil chip calibration 1"


def calibration_file() -> Path:
    """Where `hil calibrate` writes by default and the virtual boards look: the
    user's config directory, as the build cache sits in the user's cache directory."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "p1-hil" / "chip-calibration.json"


@dataclass(frozen=True, eq=False)  # eq=False: hashable by identity, so measure_cpu_ms can cache on it
class ChipFigures:
    """The chip's time for each program and where it comes from: the published
    figures, or a board `hil calibrate` measured."""

    ms: Mapping[str, float] = field(default_factory=dict)  # by program; a program not here keeps its published ms
    port: str = ""  # the measured board's port; "" for the published figures
    date: str = ""  # when it was measured (ISO 8601, UTC)
    board: Mapping = field(default_factory=dict)  # what the board said it is (hil.rig.calibrate.BoardIdentity)
    path: Path | None = None  # the calibration file these came from

    @property
    def source(self) -> str:
        """Where the figures come from, in the words the headers print."""
        if not self.port:
            return "published figures (cited in hil/sim/clock.py)"
        return f"your board on {self.port}, {self.date[:10]}"

    def chip_ms(self, program: ChipProgram) -> float:
        return self.ms.get(program.name, program.chip_ms)

    def source_of(self, program: ChipProgram) -> str:
        return self.source if program.name in self.ms else program.source

    @classmethod
    def load(cls, path: Path) -> "ChipFigures":
        """The figures of a calibration file `hil calibrate` wrote."""
        redo = f"run `hil calibrate --port PORT --out {path}` again, or set {CALIBRATION_ENV}=published"
        data = read_json(path, "the calibration file", ClockError, redo)
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise ClockError(f"{path} is not a calibration file of this rig (no \"format\": "
                             f"\"{CALIBRATION_FORMAT}\"); {redo}")
        ms = {name: float(row["ms"]) for name, row in (data.get("programs") or {}).items()
              if name in BY_NAME and isinstance(row, dict) and isinstance(row.get("ms"), (int, float)) and row["ms"] > 0}
        if CALIBRATION.name not in ms:
            raise ClockError(f"the calibration file {path} has no time for {CALIBRATION.name}, the program the "
                             f"factor is calibrated on; {redo}")
        measured = data.get("measured") or {}
        return cls(MappingProxyType(ms), str(measured.get("port") or "?"), str(measured.get("date") or "?"),
                   MappingProxyType(data.get("board") or {}), Path(path))

    def save(self, path: Path, runs: Mapping[str, list[float]]) -> None:
        """Write these figures as a calibration file, each program's runs
        (ms) beside its median and its published figure."""
        programs = {name: {"ms": ms, "runs_ms": runs[name], "what": BY_NAME[name].what,
                           "published_ms": BY_NAME[name].chip_ms, "published_source": BY_NAME[name].source}
                    for name, ms in self.ms.items()}
        data = {"format": CALIBRATION_FORMAT,
                "measured": {"port": self.port, "date": self.date, "by": "hil calibrate (hil/cli/calibrate.py)",
                             "how": "the board's own time.ticks_ms() around each run at 80 MHz; ms is the median"},
                "board": dict(self.board), "programs": programs}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")


PUBLISHED = ChipFigures()


@functools.cache
def chip_figures() -> ChipFigures:
    """The figures this process's virtual boards are calibrated to, decided
    once: HIL_CHIP_CALIBRATION, else the file at calibration_file(), else the
    published ones. The rig's own process inherits the environment, so it
    decides the same."""
    named = os.environ.get(CALIBRATION_ENV)
    if named == "published":
        return PUBLISHED
    if named:
        return ChipFigures.load(Path(named))
    default = calibration_file()
    return ChipFigures.load(default) if default.exists() else PUBLISHED


def parse_runs(output: str) -> list[tuple[float, float, float]] | None:
    """The runs a program's script printed (ChipProgram.script), None if it printed none."""
    for line in output.splitlines():
        if line.startswith("CHIP-PROGRAM "):
            return [tuple(run) for run in json.loads(line.split(" ", 1)[1].replace("(", "[").replace(")", "]"))]
    return None


def program_command(interpreter: str, program: ChipProgram, repeat: int = 1) -> list[str]:
    """The command that runs `program` `repeat` times on a board binary."""
    return [interpreter, "-X", "heapsize=38k", "-c", program.script(repeat)]


def program_runs(program: ChipProgram, interpreter: str, returncode: int, stdout: str,
                 stderr: str) -> list[tuple[float, float, float]]:
    """The runs a finished program_command printed; ClockError with its output if none."""
    runs = parse_runs(stdout)
    if runs is not None:
        return runs
    raise ClockError(f"{program.name} did not finish on {interpreter} (exit {returncode}): "
                     f"{(stderr or stdout).strip()[-500:]}")


def run_program(interpreter: str, program: ChipProgram, env: dict[str, str] | None = None,
                repeat: int = 1, timeout: float = 600) -> list[tuple[float, float, float]]:
    """Run `program` on a board binary; per run: wall ms, the board thread's
    CPU ms, and the CPU ms its clock counted as computing."""
    done = subprocess.run(program_command(interpreter, program, repeat),
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **(env or {})))
    return program_runs(program, interpreter, done.returncode, done.stdout, done.stderr)


def chip_factor(interpreter: str, figures: ChipFigures | None = None) -> float:
    """The chip's time per CPU time of this host for the calibration program
    (its time in `figures`, default chip_figures()), on `interpreter` (the
    virtual ESP8266 binary) as the board counts it at the chip's speed: this
    host's CPU time from HOST_CPU_ENV when a run pinned it (pin_host_cpu),
    else measured once per process (measure_cpu_ms measures afresh)."""
    figures = figures or chip_figures()
    return figures.chip_ms(CALIBRATION) / host_cpu_ms(interpreter, figures)


# This host's CPU ms for the calibration program, pinned by a run (the suite
# measures once at its start) so that every rig it starts computes at the same
# speed, the one its header prints.
HOST_CPU_ENV = "HIL_SIM_CALIBRATION_CPU_MS"


def host_cpu_ms(interpreter: str, figures: ChipFigures | None = None) -> float:
    """The calibration program's CPU ms here: pinned (HOST_CPU_ENV), else measured once per process."""
    pinned = os.environ.get(HOST_CPU_ENV)
    if not pinned:
        return _cpu_ms(interpreter, figures or chip_figures())
    try:
        ms = float(pinned)
    except ValueError:
        ms = 0.0
    if not ms > 0:
        raise ClockError(f"{HOST_CPU_ENV}={pinned!r} is not a time in ms; unset it and the rig measures it")
    return ms


def pin_host_cpu(interpreter: str) -> float:
    """Measure the calibration program's CPU ms now and pin it for this
    process and every rig it starts (HOST_CPU_ENV); returns the factor."""
    os.environ[HOST_CPU_ENV] = f"{host_cpu_ms(interpreter):.4f}"
    return chip_factor(interpreter)


def measure_cpu_ms(interpreter: str, figures: ChipFigures | None = None) -> float:
    """The calibration program's CPU ms on this host as the board counts it,
    measured now. Twice: first counted without sleeping (factor 1), then at
    the factor that gives, sleeping as the board does, because a process that
    sleeps a few hundred times a second finds the host's caches cold and
    computes slower than one that never sleeps. The least of each round's
    runs counts: a busy neighbour on this host's other core stretches the CPU
    time of the same work (up to 1.9 times for float work here), and a time
    taken then would make the board faster than the chip once the host is
    quiet again, the one way this model could pass firmware the chip fails;
    the least contended run errs the other way."""
    figures = figures or chip_figures()
    awake = calibration_cpu_ms(interpreter, 1.0, runs=_CALIBRATION_RUNS)
    return calibration_cpu_ms(interpreter, figures.chip_ms(CALIBRATION) / awake, runs=3)


def calibration_cpu_ms(interpreter: str, factor: float, runs: int = 2) -> float:
    """The calibration program's CPU ms as the board counts it, computing at
    `factor` (1: without sleeping): the least of `runs`. The rig's probe of
    the host's speed (hil/sim/host_speed.py) measures the same way."""
    return least_counted_ms(interpreter, run_program(interpreter, CALIBRATION, calibration_env(factor), repeat=runs))


def calibration_env(factor: float) -> dict[str, str]:
    """What the calibration program runs with at `factor`: the board's clock
    not corrected for the host's speed, which is what it measures."""
    return {"HIL_SIM_CPU_FACTOR": f"{factor:.3f}", "HIL_SIM_HOST_SPEED": ""}


def least_counted_ms(interpreter: str, runs: list[tuple[float, float, float]]) -> float:
    """The least CPU ms the board's clock counted in `runs` (run_program's)."""
    counted_ms = min(counted for _, _, counted in runs)
    if counted_ms <= 0:
        raise ClockError(f"{interpreter} has no CPU clock (_vboard.clock_stats): not the virtual ESP8266")
    return counted_ms


def measure_factor(interpreter: str, figures: ChipFigures | None = None) -> float:
    """chip_factor, measured now (measure_cpu_ms)."""
    figures = figures or chip_figures()
    return figures.chip_ms(CALIBRATION) / measure_cpu_ms(interpreter, figures)


_cpu_ms = functools.cache(measure_cpu_ms)


def board_env(speed: str, interpreter: str, faithful: bool) -> dict[str, str]:
    """What a virtual board's interpreter needs to run at `speed`."""
    if speed not in SPEEDS:
        raise ValueError(f"board speed {speed!r}: choose one of {', '.join(SPEEDS)}")
    if speed == "host" or not faithful:
        return {}
    return {"HIL_SIM_CPU_FACTOR": f"{chip_factor(interpreter):.3f}"}


def describe(speed: str, faithful: bool, factor: float | None = None) -> str:
    """The board speed in the words the headers and the report print;
    factor: the one this run's boards compute at, when it is known."""
    if not faithful:
        return "host speed (the approximate board has no chip clock)"
    if speed == "chip":
        figures = chip_figures()
        at = (f"; factor {factor:.0f}: chip ms per host CPU ms, measured when the run started "
              "and scaled by the host's speed while boards run"
              if factor else "")
        return (f"the chip's speed: an 80 MHz ESP8266, calibrated on {CALIBRATION.what} "
                f"({figures.chip_ms(CALIBRATION):,.0f} ms on the chip; chip figures: {figures.source}){at}")
    return "host speed: hundreds of times faster than the chip; timing figures are the host's"


def calibration_report(interpreter: str, figures: ChipFigures | None = None,
                       programs: tuple[ChipProgram, ...] = PROGRAMS) -> list[dict]:
    """Each program at chip speed on this host: its time against the chip's in `figures`."""
    figures = figures or chip_figures()
    factor = chip_factor(interpreter, figures)
    rows = []
    for program in programs:
        runs = run_program(interpreter, program, env={"HIL_SIM_CPU_FACTOR": f"{factor:.3f}"}, repeat=3)
        wall_ms = statistics.median(run[0] for run in runs)
        chip_ms = figures.chip_ms(program)
        rows.append({"program": program.name, "what": program.what, "chip_ms": chip_ms,
                     "source": figures.source_of(program), "virtual_ms": wall_ms, "ratio": wall_ms / chip_ms,
                     "calibration": program is CALIBRATION})
    return rows


def main(argv=None) -> int:
    """`python -m hil.sim.clock`: each program's time at chip speed against the chip's."""
    from .model import board_model

    parser = argparse.ArgumentParser(prog="python -m hil.sim.clock", description=main.__doc__)
    parser.add_argument("--program", action="append", choices=NAMES, metavar="NAME",
                        help=f"only this program (repeatable; default all: {', '.join(NAMES)})")
    args = parser.parse_args(argv)
    model = board_model()
    if not model.faithful:
        print("the approximate board has no chip clock: build the virtual ESP8266 first")
        return 1
    try:
        figures = chip_figures()
        print(f"chip figures: {figures.source}" + (f" ({figures.path})" if figures.path else ""))
        print(f"factor {chip_factor(model.interpreter, figures):.1f}: chip time per host CPU time, calibrated on "
              f"{CALIBRATION.name} ({figures.source_of(CALIBRATION)})")
        rows = calibration_report(model.interpreter, figures, tuple(BY_NAME[n] for n in args.program or NAMES))
    except ClockError as e:
        print(f"error: {e}")
        return 2
    for row in rows:
        mark = " (calibration)" if row["calibration"] else ""
        print(f"{row['program']:10} chip {row['chip_ms']:8,.0f} ms  virtual {row['virtual_ms']:8,.0f} ms  "
              f"ratio {row['ratio']:.2f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
