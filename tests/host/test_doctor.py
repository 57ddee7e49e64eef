"""`hil doctor`: each finding with its fix; exit 0 when a `pytest --rig sim` run
can start, 1 when not."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hil.cli import doctor
from hil.net import broker
from hil.sim import build
from hil.sim.model import board_model


def _run(capsys, argv=()) -> tuple[int, str]:
    code = doctor.main(["doctor", *argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_doctor_says_the_rig_can_run_here(capsys):
    try:
        broker.find_mosquitto()
    except broker.BrokerError as e:
        pytest.skip(f"this machine has no mosquitto ({e}); scripts/bootstrap installs it")
    code, out = _run(capsys)
    assert code == 0, out
    assert "the rig can run here" in out
    lines = out.splitlines()
    for what in ("python", "python packages", "mosquitto", "virtual board", "32-bit toolchain", "zabbix_agent2",
                 "labgrid", "serial port", "rig config"):
        assert any(re.match(rf"^(ok|note|FAIL)\s+{re.escape(what)}", line) for line in lines), \
            f"no finding about {what}:\n{out}"
    assert not [line for line in lines if line.startswith("FAIL")], out


def test_with_mosquitto_hidden_the_doctor_names_it_and_its_install_command_and_exits_1(capsys, monkeypatch, tmp_path):
    # Hidden from PATH and from the sbin places the rig also looks in (hil.net.broker).
    path = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "mosquitto").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.setattr(broker, "_SBIN_CANDIDATES", ())
    code, out = _run(capsys)
    assert code == 1, out
    line = next((line for line in out.splitlines() if re.match(r"^FAIL\s+mosquitto", line)), None)
    assert line, f"no FAIL line for mosquitto:\n{out}"
    assert "mosquitto not found" in line and "apt-get install -y mosquitto" in line, line
    assert "cannot start here" in out and "fix mosquitto" in out, out


def test_an_unreadable_rig_config_fails_the_run_as_pytest_would(capsys, tmp_path):
    bad = tmp_path / "rig.json"
    bad.write_text("{ not json")
    code, out = _run(capsys, ["--rig-config", str(bad)])
    assert code == 1
    line = next(line for line in out.splitlines() if "rig config" in line)
    assert line.startswith("FAIL") and str(bad) in line and "rig.example.json" in line, line


def test_without_the_virtual_esp8266_the_doctor_says_why_the_approximate_board_runs_and_how_to_build(
        capsys, monkeypatch, tmp_path):
    from hil.sim import model

    real = model._bin_dir() / "micropython"  # the 64-bit unix port from PyPI: the approximate board
    monkeypatch.setattr(model, "_bin_dir", lambda: tmp_path)  # a venv with no micropython-esp8266 linked
    (tmp_path / "micropython").symlink_to(real)
    code, out = _run(capsys)
    line = next(line for line in out.splitlines() if "virtual board" in line)
    assert line.startswith("note") and "approximate board runs" in line and "-m hil.sim.build --link" in line, line


def test_the_build_key_names_the_build_the_cache_holds(monkeypatch, capsys):
    """A CI cache keyed on `hil doctor --build-key` must change when the build would."""
    model = board_model()
    src = os.environ.get("MICROPYTHON_SRC")
    if not model.faithful or not src:
        pytest.skip("needs the virtual ESP8266 built from MICROPYTHON_SRC (scripts/bootstrap with it set)")
    code, out = _run(capsys, ["--build-key"])
    assert code == 0
    key = out.strip()
    cache_dir = Path(model.interpreter).resolve().parent.name  # <source hash>-<variant hash>, as build.py names it
    source, variant = cache_dir.split("-")[:2]
    assert key == f"virtual-esp8266-{build.TAG}-{variant}-src{source}", (key, cache_dir)
    monkeypatch.delenv("MICROPYTHON_SRC")
    assert doctor.build_key() == f"virtual-esp8266-{build.TAG}-{variant}"
