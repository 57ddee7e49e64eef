"""The real-board driver (--rig usb) is the same code as the virtual rig's:
pointed at the ports of a running virtual rig, it passes the replay test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED

ROOT = Path(__file__).resolve().parents[2]


USER_CONFIG = b'{"wifi": {"ssid": "home"}, "mqtt": {"host": "192.168.1.5"}, "base_topic": "meter"}'


@pytest.mark.parametrize("had_config", [False, True], ids=["new board", "board with its own config"])
def test_rig_usb_against_virtual_ports_passes_replay(tmp_path, pytestconfig, rig_kind, had_config):
    """...and says at the end what became of the bridge's own config.json: a
    bridge left pointing at the suite's broker must not pass unnoticed."""
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own; meaningful in the default --rig sim run")
    extra = []
    if pytestconfig.getoption("--bridge-firmware"):
        extra += ["--bridge-firmware", pytestconfig.getoption("--bridge-firmware")]
    # 15 s each, against 37 s at the chip's.
    with VirtualRig(tmp_path / "sim", board_speed=UNTIMED_SPEED) as sim:
        if had_config:
            (sim.flash["bridge"] / "config.json").write_bytes(USER_CONFIG)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "hil/tests/test_replay.py"),
             "--rig", "usb", "--emulator-port", sim.ports["emulator"], "--bridge-port", sim.ports["bridge"],
             "--broker-host", "127.0.0.1", "--basetemp", str(tmp_path / "inner"),
             "--report-dir", str(tmp_path / "report"), *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0, f"--rig usb on virtual ports failed:\n{tail}"
    assert "3 passed" in result.stdout, tail  # both captures, and the synthesized sequence
    # Ports alone give no way to reset a running bridge into its REPL: the run says so.
    said = [line for line in result.stdout.splitlines() if line.startswith("hil: the bridge on")]
    if had_config:
        assert said and "still holds the suite's config.json" in said[0] and "cannot be reset" in said[0], tail
    else:
        assert said and "had no config.json before this run" in said[0], tail
