"""Helpers for running bridge firmware scripts on the real MicroPython unix port."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "bridge_firmware"
MPY_SCRIPTS = Path(__file__).resolve().parent / "mpy"
CAPTURES = ROOT / "captures"


def micropython_path():
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable)) or shutil.which("micropython")
    if exe is None:
        pytest.fail("micropython (unix port) not found next to the venv's python; run scripts/bootstrap")
    return exe


def mpy_env():
    env = dict(os.environ)
    # .frozen holds asyncio on the unix port; without it in MICROPYPATH it is gone.
    env["MICROPYPATH"] = os.pathsep.join([".frozen", str(FIRMWARE), str(MPY_SCRIPTS)])
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
