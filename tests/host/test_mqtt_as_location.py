"""A missing mqtt_as skips the tests that need it only where nobody said it
should be there (hil.mqtt_as_source, the mqtt_as_dir fixture): with MQTT_AS_DIR
set but empty, or CI set, those tests fail, as a missing MicroPython source does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hil.mqtt_as_source import Missing, locate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(tmp_path) -> Path:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mqtt_as.py").write_text("# stands in for mqtt_as 0.8.3\n")
    return tmp_path / "lib"


def test_a_directory_with_mqtt_as_is_found(library):
    assert locate({"MQTT_AS_DIR": str(library)}) == library.resolve()
    assert locate({"MQTT_AS_DIR": str(library), "CI": "true"}) == library.resolve()


def test_nothing_said_about_mqtt_as_skips():
    found = locate({})
    assert isinstance(found, Missing) and not found.required


@pytest.mark.parametrize("environ", [{"CI": "true"}, {"MQTT_AS_DIR": "{empty}"}, {"MQTT_AS_DIR": "{empty}", "CI": "1"}],
                         ids=["CI set", "MQTT_AS_DIR empty", "both"])
def test_a_run_told_to_have_mqtt_as_fails_without_it(tmp_path, environ):
    environ = {k: v.format(empty=tmp_path) for k, v in environ.items()}
    found = locate(environ)
    assert isinstance(found, Missing) and found.required, found


@pytest.mark.parametrize("environ, outcome", [
    ({}, "1 skipped"),
    ({"MQTT_AS_DIR": "{empty}"}, "1 error"),
    ({"CI": "true"}, "1 error"),
], ids=["nothing said", "MQTT_AS_DIR empty", "CI set"])
def test_the_fixture_skips_or_fails_a_test_that_needs_mqtt_as(tmp_path, environ, outcome):
    test = tmp_path / "test_needs_mqtt_as.py"
    test.write_text("def test_it(mqtt_as_dir):\n    assert (mqtt_as_dir / 'mqtt_as.py').is_file()\n")
    (tmp_path / "empty").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MQTT_AS_DIR", "CI")}
    env.update({k: v.format(empty=tmp_path / "empty") for k, v in environ.items()})
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
                          "--report-dir", str(tmp_path / "report"), str(test)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
