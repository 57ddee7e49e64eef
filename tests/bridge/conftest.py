"""Helpers for running bridge firmware scripts on the virtual ESP8266's interpreter
(MicroPython built as the chip: 32-bit, its settings), or on the approximate
board where that build is missing (hil/sim/model.py)."""

import os
import subprocess
from pathlib import Path

import pytest

from hil.sim.model import board_model

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "bridge_firmware"
MPY_SCRIPTS = Path(__file__).resolve().parent / "mpy"
CAPTURES = ROOT / "captures"
# The heap these harness tests give the bridge as .mpy files loaded from the filesystem
# (free at main.py, 32-bit): 13 KB more than the chip's, because that way the bridge
# does not fit the chip (tests/sim/test_bridge_mpy_on_chip_heap.py measures by how
# much; the rig deploys it from ROMFS, at the chip's heap).
MPY_HARNESS_FREE = 48_000


def micropython_path():
    try:
        return board_model().interpreter
    except FileNotFoundError as e:
        pytest.fail(str(e))


def native_arch():
    """mpy-cross -march for viper code on that interpreter."""
    return board_model().arch


def mpy_path(*first):
    """MICROPYPATH for the firmware and these scripts, `first` searched before them.
    .frozen holds asyncio on the unix port; without it in MICROPYPATH it is gone."""
    return os.pathsep.join([*map(str, first), ".frozen", str(FIRMWARE), str(MPY_SCRIPTS)])


# main.py's boot flow and application loop on fake board modules (machine, network, os).
FAKEBOARD_PATH = mpy_path(MPY_SCRIPTS / "fakeboard")


def mpy_env():
    env = dict(os.environ)
    env["MICROPYPATH"] = mpy_path()
    return env


def mpy_cmd(script, *args, heapsize="256k"):
    return [micropython_path(), "-X", f"heapsize={heapsize}", str(MPY_SCRIPTS / script), *map(str, args)]


def run_mpy(script, *args, timeout=60, heapsize="256k"):
    """Run a MicroPython script; fail the test with its output if it exits non-zero."""
    r = subprocess.run(mpy_cmd(script, *args, heapsize=heapsize), env=mpy_env(), capture_output=True,
                       timeout=timeout, cwd=str(ROOT))
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        pytest.fail(f"micropython {script} {' '.join(map(str, args))} exited {r.returncode}:\n{out}\n"
                    f"{r.stderr.decode(errors='replace')}")
    return out


@pytest.fixture
def broker():
    """A real mosquitto on loopback, with a password file."""
    from hil.net.broker import Mosquitto
    with Mosquitto() as b:
        yield b
