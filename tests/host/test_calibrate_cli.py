"""`hil calibrate` where there is no board to time: each failure is one line
on stderr that says what to do, and a non-zero exit; and the calibration
file's reader refuses what it cannot use. The run against a board is in
tests/sim/test_calibrate.py (a virtual ESP8266 stands in for it)."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from hil.rig.calibrate import NotAnEsp8266, identify
from hil.sim.clock import BY_NAME, CALIBRATION, CALIBRATION_ENV, ChipFigures, ClockError

ROOT = Path(__file__).resolve().parents[2]


def _calibrate(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hil.cli", "calibrate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})


def test_a_port_that_does_not_exist_is_a_usage_error_that_says_so(tmp_path):
    run = _calibrate("--port", str(tmp_path / "ttyUSB7"), tmp_path=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{tmp_path / 'ttyUSB7'} does not exist. Is the board plugged in?" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "config").exists()


def test_a_port_where_nothing_answers_says_the_board_does_not_answer(tmp_path):
    # A pty nobody reads: a port whose board is off, or runs a firmware that took its REPL.
    master, slave = pty.openpty()
    port = os.ttyname(slave)
    try:
        run = _calibrate("--port", port, "--out", str(tmp_path / "cal.json"), tmp_path=tmp_path)
    finally:
        os.close(master)
        os.close(slave)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"the board on {port} does not answer at its REPL. Is MicroPython on it" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "cal.json").exists()


class _Board:
    """What identify() asks of a board, answered as another chip would."""

    port = "/dev/ttyACM0"

    def __init__(self, answer):
        self.answer = answer

    def exec(self, code, timeout=10):
        return ""

    def eval(self, expr, timeout=10):
        return self.answer


def test_a_board_that_is_not_an_esp8266_is_refused_with_what_it_is():
    rp2 = ("rp2", ("rp2", "rp2", "1.23.0", "v1.23.0", "Raspberry Pi Pico with RP2040"), "micropython", (1, 23, 0),
           "3.4.0; MicroPython v1.23.0", 125000000)
    with pytest.raises(NotAnEsp8266) as refused:
        identify(_Board(rp2))
    assert "/dev/ttyACM0 is not an ESP8266: sys.platform is 'rp2' (Raspberry Pi Pico with RP2040" in str(refused.value)
    esp = ("esp8266", ("esp8266", "esp8266", "1.23.0", "v1.23.0", "ESP module with ESP8266"), "micropython",
           (1, 23, 0), "3.4.0; MicroPython v1.23.0", 160000000)
    identity = identify(_Board(esp))
    assert (identity.uname["machine"], identity.implementation, identity.freq_hz) == (
        "ESP module with ESP8266", "micropython 1.23.0", 160000000)


def test_a_calibration_file_without_the_calibration_program_is_refused(tmp_path):
    path = tmp_path / "cal.json"
    ChipFigures({"pi_1000": 1900.0}, "/dev/ttyUSB0", "2026-12-01T10:00:00+00:00").save(path, {"pi_1000": [1900.0]})
    with pytest.raises(ClockError, match=f"has no time for {CALIBRATION.name}.*hil calibrate --port PORT"):
        ChipFigures.load(path)
    path.write_text(json.dumps({"programs": {}}))
    with pytest.raises(ClockError, match="is not a calibration file of this rig"):
        ChipFigures.load(path)


def test_a_calibration_file_gives_its_figures_and_the_published_ones_for_programs_it_lacks(tmp_path):
    path = tmp_path / "cal.json"
    ChipFigures({"int_add": 2500.0}, "/dev/ttyUSB0", "2026-12-01T10:00:00+00:00").save(path, {"int_add": [2500.0]})
    figures = ChipFigures.load(path)
    assert figures.source == "your board on /dev/ttyUSB0, 2026-12-01"
    assert figures.chip_ms(CALIBRATION) == 2500.0
    assert figures.chip_ms(BY_NAME["pi_1000"]) == BY_NAME["pi_1000"].chip_ms
    assert figures.source_of(BY_NAME["pi_1000"]) == BY_NAME["pi_1000"].source


def test_the_environment_names_the_calibration_file_and_the_published_figures(tmp_path):
    path = tmp_path / "cal.json"
    ChipFigures({"int_add": 2500.0}, "/dev/ttyUSB3", "2026-12-01T10:00:00+00:00").save(path, {"int_add": [2500.0]})
    default = tmp_path / "config" / "p1-hil" / "chip-calibration.json"
    default.parent.mkdir(parents=True)
    default.write_text(path.read_text().replace("/dev/ttyUSB3", "/dev/ttyUSB4"))
    script = "from hil.sim.clock import chip_figures; print(chip_figures().source)"
    sources = {}
    for named in (None, "published", str(path)):
        env = {k: v for k, v in os.environ.items() if k != CALIBRATION_ENV}
        env.update({"XDG_CONFIG_HOME": str(tmp_path / "config")}, **({CALIBRATION_ENV: named} if named else {}))
        run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env,
                             timeout=60)
        assert run.returncode == 0, run.stderr
        sources[named] = run.stdout.strip()
    assert sources == {None: "your board on /dev/ttyUSB4, 2026-12-01",
                       "published": "published figures (cited in hil/sim/clock.py)",
                       str(path): "your board on /dev/ttyUSB3, 2026-12-01"}
