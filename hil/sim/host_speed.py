"""The host's speed while virtual boards run, kept where their clocks read it.

A board's clock (cmod/vboard/vboard_clock.c) turns its interpreter's CPU time
into the chip's time by a factor measured when the run started
(hil/sim/clock.py: the calibration program's CPU time, sleeping as a board
does). This host does not keep one speed: for tens of seconds at a time it ran
the interpreter up to 1.7 times slower per CPU second than at other times,
while a small C loop kept its pace (docs/FIDELITY.md, "The host's own speed").
Uncorrected, a board is then slower than the chip (a bridge loses bytes it
would not lose on the chip), and faster than it whenever the host is faster
than at the calibration. So while boards run at the chip's speed, HostSpeed
times the same calibration program the same way, on the same binary, over and
over, and writes the speed against the calibration's (its CPU time then over
its CPU time now), one double, to a file each board maps. The same
measurement at both ends, so a stretch the calibration fell in does not skew
the correction (the first try at this compared a round without sleeping with
the sleeping one, taken seconds apart, and made a board 1.7 times too slow).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import struct
import sys
from pathlib import Path

from .clock import CALIBRATION, ClockError, calibration_env, least_counted_ms, program_command, program_runs

PAUSE_S = 1.0  # between probes; a probe takes ~4.5 s of wall time (two runs at the chip's speed) and ~10 ms of CPU
RUNS = 2  # per probe: the least counts (hil.sim.clock.calibration_cpu_ms)


class HostSpeed:
    """Probes the host's speed and keeps it in `path` for the boards (HIL_SIM_HOST_SPEED)."""

    def __init__(self, path: Path, interpreter: str, factor: float, base_ms: float):
        """factor: the boards' (chip ms per host CPU ms); base_ms: the
        calibration program's CPU ms that gave it (hil.sim.clock.host_cpu_ms)."""
        self.path = Path(path)
        self.interpreter = interpreter
        self.factor = factor
        self.base_ms = base_ms
        self.now = 1.0  # the calibration's speed until the first probe
        self.low: float | None = None  # the slowest and fastest probes so far; None before the first
        self.high: float | None = None
        self.probes = 0
        self._recent: collections.deque = collections.deque(maxlen=2)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._write(1.0)  # a board maps the file at start: it must hold a double before any board starts

    def _write(self, speed: float) -> None:
        os.pwrite(self._fd, struct.pack("d", speed), 0)  # 8 aligned bytes: a board never reads half of it

    def update(self, cpu_ms: float) -> float:
        """Take one probe's CPU ms; returns the speed now written for the boards."""
        self._recent.append(cpu_ms)
        # The least of the last two probes: a host that turned slower is
        # believed one probe late (meanwhile the board is slower than the
        # chip), one that turned faster at once, so one slow probe never makes
        # a board faster than the chip.
        speed = self.base_ms / min(self._recent)
        if abs(speed - self.now) > 0.1 * self.now:
            print(f"host speed: {speed:.2f} of the calibration's ({min(self._recent):.2f} ms against "
                  f"{self.base_ms:.2f} ms)", file=sys.stderr, flush=True)
        self.now = speed
        self.low = speed if self.low is None else min(self.low, speed)
        self.high = speed if self.high is None else max(self.high, speed)
        self.probes += 1
        self._write(speed)
        return speed

    async def probe(self) -> float:
        """The calibration program's CPU ms now, as clock.calibration_cpu_ms
        takes it; a process of its own, killed if the rig stops meanwhile."""
        proc = await asyncio.create_subprocess_exec(
            *program_command(self.interpreter, CALIBRATION, RUNS), env=dict(os.environ, **calibration_env(self.factor)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        runs = program_runs(CALIBRATION, self.interpreter, proc.returncode, out.decode(errors="replace"),
                            err.decode(errors="replace"))
        return least_counted_ms(self.interpreter, runs)

    async def run(self) -> None:
        while True:
            try:
                ms = await self.probe()
            except (ClockError, OSError) as e:  # keep the last speed; the log says why it did not move
                print(f"host speed: probe failed ({e}); keeping {self.now:.2f}", file=sys.stderr, flush=True)
            else:
                self.update(ms)
            await asyncio.sleep(PAUSE_S)

    def stats(self) -> dict:
        return {"now": self.now, "low": self.low, "high": self.high, "probes": self.probes,
                "calibration_cpu_ms": self.base_ms}

    def close(self) -> None:
        os.close(self._fd)
