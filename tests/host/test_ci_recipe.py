"""The CI recipe for a bridge's own repository (docs/ci/): the GitHub Actions
workflow runs the shell script's commands, step by step, with the same settings.
That the script itself runs green is tests/sim/test_bridge_repository_ci.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs/ci/hil.sh"
WORKFLOW = ROOT / "docs/ci/hil.yml"


def _commands(text: str) -> list[str]:
    """The lines that do something: no blank lines, no comment lines, no indentation."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def script_steps() -> list[tuple[str, list[str]]]:
    steps = []
    for block in re.split(r"^# step: ", SCRIPT.read_text(), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        steps.append((name.strip(), _commands(body)))
    return steps


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def workflow_steps() -> list[dict]:
    (job,) = workflow()["jobs"].values()
    return job["steps"]


def test_the_workflow_runs_the_scripts_commands_step_by_step():
    ran = [(s["name"], _commands(s["run"])) for s in workflow_steps() if "run" in s]
    steps = script_steps()
    assert len(steps) >= 5, f"the script's '# step:' markers are gone: {steps}"
    assert [n for n, _ in ran] == [n for n, _ in steps], "the steps differ in name or order"
    for (name, in_workflow), (_, in_script) in zip(ran, steps):
        assert in_workflow == in_script, f"step {name!r} differs:\nworkflow: {in_workflow}\nscript:   {in_script}"


def test_the_workflow_sets_every_setting_the_script_reads_and_no_other():
    (job,) = workflow()["jobs"].values()
    defaults = set(re.findall(r'^: "\$\{(\w+):', SCRIPT.read_text(), flags=re.M))
    assert {"HIL_RIG", "BRIDGE_DIR", "HIL_EXPECT", "REPORT_DIR"} <= defaults
    assert set(job["env"]) == defaults


def test_the_workflow_caches_where_the_build_goes_under_the_build_key_and_keeps_the_reports():
    steps = workflow_steps()
    names = [s.get("name") or s["uses"] for s in steps]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    key_step = next(s for s in steps if s.get("name") == "Build key")
    assert names.index(cache["uses"]) == names.index("Build key") + 1
    assert names.index(cache["uses"]) < names.index("Build the virtual ESP8266"), "the cache must come before the build"
    assert cache["with"]["key"] == "${{ steps.%s.outputs.key }}" % key_step["id"]
    # The place hil/sim/build.py builds into by default, on a runner with neither variable set.
    env = {k: v for k, v in os.environ.items() if k not in ("HIL_BUILD_CACHE", "XDG_CACHE_HOME")}
    default = subprocess.run([sys.executable, "-c", "from hil.sim.build import CACHE; print(CACHE)"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    assert Path(cache["with"]["path"]).expanduser() == Path(default)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()", "the reports of a failed run are the ones wanted"
    assert upload["with"]["path"] == "${{ env.REPORT_DIR }}"


def test_the_script_is_valid_bash_and_asks_for_the_rig_when_not_told():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "HIL_RIG"}
    r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "set HIL_RIG" in r.stderr, r.stderr
