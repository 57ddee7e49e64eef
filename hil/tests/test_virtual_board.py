"""A virtual board is a board to host tools: mpremote works on its port."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.sim.handle import VirtualRig

MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


@pytest.fixture
def fresh_virtual_rig(tmp_path, pytestconfig):
    # Its own rig: the session rig's ports are held open by the suite's drivers.
    with VirtualRig(tmp_path / "sim", board_speed=pytestconfig.getoption("--board-speed")) as sim:
        yield sim


def mpremote(port: str, *args: str) -> str:
    result = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"mpremote {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_mpremote_runs_code_through_the_raw_repl(fresh_virtual_rig):
    port = fresh_virtual_rig.ports["emulator"]
    out = mpremote(port, "exec", "import machine, sys; print('cause', machine.reset_cause(), sys.implementation.name, 6 * 7)")
    assert "cause 0 micropython 42" in out


def test_mpremote_copies_files_to_the_boards_flash(fresh_virtual_rig, tmp_path):
    port = fresh_virtual_rig.ports["bridge"]
    local = tmp_path / "hello.txt"
    local.write_bytes(b"flash me\n")
    mpremote(port, "fs", "cp", str(local), ":hello.txt")
    assert (fresh_virtual_rig.flash["bridge"] / "hello.txt").read_bytes() == b"flash me\n"
    out = mpremote(port, "exec", "print(open('hello.txt').read().strip().upper())")
    assert "FLASH ME" in out


def test_resume_keeps_state_and_soft_reset_clears_it(fresh_virtual_rig):
    """`resume` skips the soft reset; a plain exec soft-resets first, like a board."""
    port = fresh_virtual_rig.ports["emulator"]
    mpremote(port, "resume", "exec", "kept = 'still here'")
    assert "still here" in mpremote(port, "resume", "exec", "print(kept)")
    out = subprocess.run([MPREMOTE, "connect", port, "exec", "print(kept)"], capture_output=True, text=True, timeout=60)
    assert "NameError" in out.stdout + out.stderr


def test_soft_reset_from_raw_repl_skips_main_py(fresh_virtual_rig):
    """ESP8266 rule: main.py runs after a soft reset only from the friendly REPL."""
    (fresh_virtual_rig.flash["emulator"] / "main.py").write_text("print('MAIN RAN')\n")
    out = mpremote(fresh_virtual_rig.ports["emulator"], "exec", "print('raw ok')")
    assert "raw ok" in out and "MAIN RAN" not in out
