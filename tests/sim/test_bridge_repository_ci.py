"""The CI recipe (docs/ci/hil.sh) run in a throw-away bridge repository, on
Python 3.12 and 3.13 (each where installed; ~/.pyenv/versions/ is looked in too):

- the repository holds the seed-style reference bridge (hil/tests/variants/seed_style)
  in src/, mqtt_as in lib/, its config template, and its own test requirements with
  a numpy and a pytest other than requirements.lock's (within pyproject.toml's ranges);
- the script installs the rig's wheel into a fresh venv beside them, builds (here:
  finds in the build cache) the virtual ESP8266, runs `hil doctor`, and runs the
  replay test against the repository's bridge with --expect contract, keeping the
  HTML and JUnit reports.

Offline but for PyPI (pip's cache makes it quick after the first run). About 40 s a
Python; the wheel is built once for both."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from hil.cli.doctor import build_key
from hil.sim.model import board_model
from rig_wheel import build_wheel

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "hil/tests/variants/seed_style"
REPLAY = "test_each_capture_replayed_three_times_matches_oracle"
# The repository's own versions: the lowest minors pyproject.toml allows, not the lock's.
THEIRS = {"numpy": "2.2.6", "pytest": "8.4.2"}


def find_python(version: str) -> str | None:
    """An interpreter of `version` that runs (a pyenv shim on PATH may not)."""
    candidates = [shutil.which(f"python{version}")] + sorted(map(str, Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")))
    for exe in filter(None, candidates):
        r = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == version:
            return exe
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def _lock_pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {name: m[1] for name in THEIRS if (m := re.search(rf"^{name}==(\S+)", text, re.M))}


def test_the_repositorys_own_versions_differ_from_the_lock_and_fit_the_ranges():
    ranges = {Requirement(r).name: Requirement(r) for r in
              tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for name, version in THEIRS.items():
        assert version != _lock_pins()[name], f"{name} {version} is the lock's: the test would prove nothing"
        assert ranges[name].specifier.contains(version), f"{name} {version} is outside {ranges[name]}"


def _bridge_repository(path: Path, mqtt_as: Path) -> Path:
    """A bridge's own repository as its author keeps it, with the recipe copied in."""
    shutil.copytree(SEED, path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.json", "__init__.py"))
    shutil.copy(SEED / "config.template.json", path)
    (path / "lib").mkdir()
    shutil.copy(mqtt_as / "mqtt_as.py", path / "lib")
    (path / "requirements-dev.txt").write_text("".join(f"{n}=={v}\n" for n, v in THEIRS.items()))
    (path / "ci").mkdir()
    shutil.copy(ROOT / "docs/ci/hil.sh", path / "ci")
    (path / ".github/workflows").mkdir(parents=True)
    shutil.copy(ROOT / "docs/ci/hil.yml", path / ".github/workflows")
    return path


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_ci_recipe_runs_the_replay_green_in_a_bridge_repository(version, wheel, tmp_path, request):
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed here (looked for python{version} on PATH and in "
                    "~/.pyenv/versions/)")
    # The seed-style bridge runs on mqtt_as: skipped without it, failed where the run must have it.
    repo = _bridge_repository(tmp_path / "my-bridge", request.getfixturevalue("mqtt_as_dir"))
    # The recipe's settings as the repository's author gives them; the rest of the
    # environment (MICROPYTHON_SRC, HIL_BUILD_CACHE, pip's configuration) as this run has it.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "GITHUB_OUTPUT") and not k.startswith("PYTEST_XDIST")}
    env.update(HIL_RIG=str(wheel), HIL_REQUIREMENTS="requirements-dev.txt", PYTHON=python,
               # At the chip's speed the seed-style reference does not keep up with the line (its ring
               # drops bytes: hil/tests/test_variants.py); this test is about the recipe, not that bridge.
               HIL_PYTEST_ARGS=f"--bridge-lib lib --bridge-config config.template.json -k {REPLAY} "
                               "--board-speed host")
    result = subprocess.run(["bash", "ci/hil.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=540)
    out = result.stdout + result.stderr
    # pip's complaints about index folders this machine's pip.conf names and lacks say nothing here
    shown = "\n".join(line for line in out.splitlines() if "WARNING: Location" not in line)
    assert result.returncode == 0, shown[-6000:]

    venv = repo / ".hil-venv"
    got = subprocess.run([str(venv / "bin/python"), "-c",
                          "import sys, numpy, pytest, hil; print('%d.%d' % sys.version_info[:2], numpy.__version__, "
                          "pytest.__version__, hil.__file__)"], cwd=repo, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert got[:3] == [version, THEIRS["numpy"], THEIRS["pytest"]], f"the venv has {got}"
    assert got[3].startswith(str(venv)), f"hil came from {got[3]}, not the installed wheel"
    # A path into this checkout, not one that merely starts with its name (a cache beside it, say)
    assert not re.search(re.escape(str(ROOT)) + r"(/|\s|$)", out), (
        f"the installed rig reached into this checkout:\n{shown[-3000:]}")

    assert "the rig can run here" in out, f"hil doctor did not say so:\n{out[-3000:]}"
    assert f"key={build_key()}" in out, "the recipe's build key is not the one this rig's build is cached under"
    if board_model().faithful:  # the build this run uses is in the cache: the recipe takes it, never rebuilds
        assert "build-virtual-esp8266: building" not in out, out[-3000:]
        assert "board: virtual ESP8266" in out, out[-3000:]

    junit = repo / "hil-report" / "junit.xml"
    assert junit.is_file() and (repo / "hil-report" / "report.html").is_file(), "the reports are not kept"
    cases = [c for c in ET.parse(junit).getroot().iter("testcase")  # test_mqtt_as.py reuses the name: not that one
             if c.get("classname", "").endswith(".test_replay") and c.get("name", "").startswith(REPLAY)]
    assert len(cases) == 2, f"expected the replay of both captures, got {[c.get('name') for c in cases]}"
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None
              or c.find("skipped") is not None]
    assert not failed, f"{failed} did not pass:\n{out[-4000:]}"
