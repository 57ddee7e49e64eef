"""The rig as a user of another repository gets it: the built wheel installed
into a fresh venv, and `pytest --rig sim --bridge-firmware DIR` run from a
directory outside this checkout. The plugin comes from the package's pytest11
entry point, and the suite, the firmwares and the captures from the package
itself, not from this checkout. Three of the shipped suite's replay tests run
there, enough to show every part comes from the package; not the whole suite."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hil.sim.model import board_model
from rig_wheel import build_wheel

ROOT = Path(__file__).resolve().parents[2]
TESTS = "replayed_three_times or synthesized_sequence"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.timeout(900)
def test_the_installed_wheel_runs_three_replay_tests_of_its_shipped_suite_from_outside_the_repository(tmp_path):
    # Three replay tests (both captures, the synthesized sequence), not the whole
    # HIL suite: they show the plugin, the shipped suite, firmwares and captures
    # come from the wheel; the suite itself runs in this checkout's own pass.
    wheel = build_wheel(tmp_path)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel])
    if board_model().faithful:  # the virtual ESP8266 for the new venv: a cache hit, as it is built already
        _run([python, "-m", "hil.sim.build", "--link", venv / "bin" / "micropython-esp8266"])

    outside = tmp_path / "my-bridge-repo"  # a user's own repository: the firmware in src/, no tests
    bridge = outside / "src"
    shutil.copytree(ROOT / "bridge_firmware", bridge, ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # At the host's speed: this test is about what the wheel holds, not the chip's time,
    # which this checkout's own pass judges.
    result = subprocess.run([venv / "bin" / "pytest", "-p", "no:cacheprovider", "-v", "--rig", "sim",
                             "--board-speed", "host", "--bridge-firmware", bridge, "-k", TESTS],
                            cwd=outside, env=env, capture_output=True, text=True, timeout=800)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    ran = [line for line in out.splitlines() if line.startswith("test_replay.py::") and "PASSED" in line]
    assert len(ran) == 3, f"expected both captures and the sequence replayed:\n{out[-4000:]}"
    installed = _run([venv / "bin" / "python", "-c", "import hil; print(hil.__file__)"], cwd=outside).stdout
    assert installed.startswith(str(venv)), f"the venv's hil is not the installed wheel: {installed}"
    assert f"rootdir: {outside}" in out
    assert str(ROOT) not in out, f"the installed rig reached into this checkout:\n{out[-4000:]}"
    # The report lands where the user ran pytest.
    assert list((outside / "reports").glob("*/report.html")), f"no report under the directory pytest ran in:\n{out[-1500:]}"
