"""The overflow and network scenarios catch a bridge built the seed's way:
pointed with --bridge-firmware at a variant that queues every value without
bound, each of them fails with a message that says why. (The project's bridge
passes them in the normal run.) Marked long: it replays the scenarios in a rig
of its own (~4 min)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIANT = Path(__file__).with_name("variants") / "unbounded_queue"
SCENARIOS = (
    "test_overflow.py::test_stalled_broker_bounded_supersedes_and_recovers",
    "test_network.py::test_broker_restart_recovers_without_reboot",
    "test_network.py::test_broker_down_while_the_bridge_boots",
    "test_network.py::test_wifi_loss_recovers_without_reboot",
)
# What a failure must say (at least one of): the scenarios' problem sentences.
REASONS = ("superseded stayed at", "heap not bounded", "the bridge rebooted", "uptime went back",
           "application failed", "not every value was published within", "stale value")


@pytest.fixture
def unbounded_bridge(tmp_path) -> Path:
    firmware = tmp_path / "bridge_unbounded"
    shutil.copytree(ROOT / "bridge_firmware", firmware, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(VARIANT / "snapshot.py", firmware / "snapshot.py")
    return firmware


def _failures(junit: Path) -> dict[str, str]:
    """Test name → failure text (empty when it passed) from a JUnit XML file."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        out[case.get("name")] = "" if failure is None else (failure.get("message", "") + (failure.text or ""))
    return out


@pytest.mark.long
def test_overflow_and_network_scenarios_fail_on_an_unbounded_queue(unbounded_bridge, tmp_path, rig_kind):
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own")
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=short",
         *(str(ROOT / "hil/tests" / s) for s in SCENARIOS),
         "--bridge-firmware", str(unbounded_bridge), "--basetemp", str(tmp_path / "inner"),
         "--report-dir", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    out = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 1, f"the scenarios should fail on an unbounded queue (pytest exit 1):\n{out}"
    failures = _failures(report / "junit.xml")
    problems = []
    for scenario in SCENARIOS:
        name = scenario.split("::")[1]
        text = failures.get(name)
        if text is None:
            problems.append(f"{name}: did not run")
        elif not text:
            problems.append(f"{name}: passed on a bridge that queues every value")
        else:
            reasons = [r for r in REASONS if r in text]
            if not reasons:
                problems.append(f"{name}: failed without saying why:\n{text[:1500]}")
            else:
                print(f"{name} failed on the unbounded variant because: {'; '.join(reasons)}")
    assert not problems, "\n".join(problems) + f"\n--- inner run ---\n{out}"
