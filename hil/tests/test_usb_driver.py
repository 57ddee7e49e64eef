"""The real-board driver (--rig usb) is the same code as the virtual rig's:
pointed at the ports of a running virtual rig, it passes the replay test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.sim.process import VirtualRigProcess

ROOT = Path(__file__).resolve().parents[2]


def test_rig_usb_against_virtual_ports_passes_replay(tmp_path, pytestconfig, rig_kind):
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own; meaningful in the default --rig sim run")
    extra = []
    if pytestconfig.getoption("--bridge-firmware"):
        extra += ["--bridge-firmware", pytestconfig.getoption("--bridge-firmware")]
    with VirtualRigProcess(tmp_path / "sim") as sim:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "hil/tests/test_replay.py"),
             "--rig", "usb", "--emulator-port", sim.ports["emulator"], "--bridge-port", sim.ports["bridge"],
             "--broker-host", "127.0.0.1", "--basetemp", str(tmp_path / "inner"),
             "--report-dir", str(tmp_path / "report"), *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0, f"--rig usb on virtual ports failed:\n{tail}"
    assert "3 passed" in result.stdout, tail  # both captures, and the synthesized sequence
