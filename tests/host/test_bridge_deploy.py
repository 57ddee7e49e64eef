"""--bridge-deploy romfs|frozen|mpy: one value, decoded in one place (hil/rig/deploy.py),
taken the same way by pytest and by every `hil` command that puts the bridge onto a
board (demo, deploy, adapter-check, zabbix-check)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hil.cli import main as hil_main
from hil.rig.deploy import DEFAULT, Deploy, DeployError
from hil.sim import model

ROOT = Path(__file__).resolve().parents[2]


def test_the_three_ways_and_what_follows_from_each():
    assert DEFAULT is Deploy.ROMFS
    assert [d for d in Deploy if d.bytecode_in_flash] == [Deploy.ROMFS, Deploy.FROZEN]
    assert (Deploy.FROZEN.heap_floor, Deploy.ROMFS.heap_floor, Deploy.MPY.heap_floor) == (15 * 1024, 8 * 1024, 8 * 1024)
    assert Deploy.parse("frozen") is Deploy.FROZEN and Deploy.parse(Deploy.MPY) is Deploy.MPY
    with pytest.raises(DeployError, match="'flash'.*romfs.*frozen.*mpy"):
        Deploy.parse("flash")


def test_the_approximate_board_takes_romfs_as_mpy_and_the_header_says_why(monkeypatch):
    approximate = model.BoardModel("micropython", False, "x64", {})
    assert approximate.takes(Deploy.ROMFS) is Deploy.MPY
    assert approximate.takes(Deploy.MPY) is Deploy.MPY and approximate.takes(Deploy.FROZEN) is Deploy.FROZEN
    assert replace(approximate, faithful=True).takes(Deploy.ROMFS) is Deploy.ROMFS
    monkeypatch.setattr(model, "board_model", lambda: approximate)
    lines = model.describe_rig("sim", Deploy.ROMFS)
    assert f"  bridge: mpy, {Deploy.MPY.what} (--bridge-deploy romfs asked: {model.NO_ROMFS})" in lines, lines


def _pytest(*args: str) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args,
                        "tests/host/test_bridge_deploy.py::test_the_three_ways_and_what_follows_from_each"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def _hil(*args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        hil_main(list(args))
    return done.value.code, ""


@pytest.mark.parametrize("command", ["pytest", "hil demo", "hil deploy", "hil adapter-check", "hil zabbix-check"])
def test_a_bad_deploy_value_is_a_usage_error_naming_the_three_ways(command, capsys):
    if command == "pytest":
        code, text = _pytest("--bridge-deploy", "flash")
        usage = pytest.ExitCode.USAGE_ERROR
    else:
        words = command.split()[1:] + (["--role", "bridge", "--port", "/dev/null"] if command == "hil deploy" else [])
        code, _ = _hil(*words, "--bridge-deploy", "flash")
        text, usage = capsys.readouterr().err, 2
    assert code == usage, text
    assert "--bridge-deploy" in text and "'flash'" in text, text
    assert "choose romfs (" in text and "frozen (" in text and "mpy (" in text, text


def test_the_pytest_header_names_the_deploy_way():
    for way in ("romfs", "frozen", "mpy"):
        code, text = _pytest("--bridge-deploy", way)
        assert code == 0, text
        taken = model.board_model().takes(Deploy(way))
        assert f"  bridge: {taken.value}, " in text, text[:1500]
