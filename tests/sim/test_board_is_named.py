"""Every run says which board its figures come from: the pytest header and the
HTML report name the board model and both boards' heaps.

The expected lines are written out here, not taken from describe_rig(), the
code that writes the header: a header that named the wrong board, or lost the
heap, would otherwise agree with itself."""
from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

from hil.sim.model import board_model

ROOT = Path(__file__).resolve().parents[2]

VIRTUAL_ESP8266 = [
    "board: virtual ESP8266 (MicroPython v1.28.0, 32-bit, the chip's settings, HAL and asyncio frozen)",
    "  bridge: romfs, .mpy files in the ROMFS partition (FLASH_2M_ROMFS firmware; bytecode runs in place from flash)",
    "  heap of both boards: 35,000 B free at main.py, as on the chip",
    "the scenarios hold the bridge to at least 8 KB free at the lowest",
]
APPROXIMATE = [
    "board: approximate board (64-bit, not the chip's heap)",
    "  heap figures are not the chip's and the heap checks are skipped",
]


def test_pytest_header_and_report_name_the_board(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--report-dir", str(tmp_path),
                          "tests/sim/test_virtual_esp8266.py::test_ci_never_runs_the_approximate_board"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    # Which of the two boards this machine has is the build's business
    # (test_ci_never_runs_the_approximate_board); either way the header must name it.
    lines = VIRTUAL_ESP8266 if board_model().faithful else APPROXIMATE
    for line in lines:
        assert line in run.stdout, f"pytest header lacks {line!r}:\n{run.stdout[:2000]}"
    report = html.unescape((tmp_path / "report.html").read_text())
    for line in lines:
        assert line.strip() in report, f"report.html lacks {line.strip()!r}"
