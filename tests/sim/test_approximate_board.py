"""The approximate board (the 64-bit unix port from PyPI, what a machine without
the MicroPython source runs) boots a firmware as the virtual ESP8266 does: the
boot code runs main.py in __main__."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.sim.board import BOOT

HAL = Path(__file__).resolve().parents[2] / "hil" / "sim" / "hal"
APPROXIMATE = Path(sys.executable).with_name("micropython")


@pytest.mark.skipif(not APPROXIMATE.exists(), reason=f"no {APPROXIMATE}: scripts/bootstrap installs it")
def test_the_approximate_board_runs_main_py_in_main(tmp_path):
    (tmp_path / "main.py").write_text("X = 1\ndef f():\n    return X\nprint('MAIN RUNS', __name__, f())\n")
    run = subprocess.run([str(APPROXIMATE), "-c", BOOT], cwd=tmp_path, env={"MICROPYPATH": str(HAL)},
                         capture_output=True, text=True, timeout=30)
    assert "MAIN RUNS __main__ 1" in run.stdout, run.stdout + run.stderr
