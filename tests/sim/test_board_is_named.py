"""Every run says which board its figures come from: the pytest header and the
HTML report name the board model and both boards' heaps."""
from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

from hil.sim.model import describe_rig

ROOT = Path(__file__).resolve().parents[2]


def test_pytest_header_and_report_name_the_board(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--report-dir", str(tmp_path),
                          "tests/sim/test_virtual_esp8266.py::test_ci_never_runs_the_approximate_board"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = describe_rig("sim")
    assert lines[0].startswith("board: ")
    for line in lines:
        assert line in run.stdout, f"pytest header lacks {line!r}:\n{run.stdout[:2000]}"
    report = html.unescape((tmp_path / "report.html").read_text())
    for line in lines:
        assert line.strip() in report, f"report.html lacks {line.strip()!r}"
