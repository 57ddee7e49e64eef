"""The suite against a bridge built the seed's way, as a user brings one.

variants/seed_style is the rig's reference for that design: a readline + re
reader, a 100-slot queue of telegrams between reader and publisher, mqtt_as
as the client, no CRC check, no status topic, its own config format (given to
the rig as a template), and nothing on its serial port the rig knows. The
replay test and the four overflow and network scenarios run against it in a
rig of their own (pytest in pytest, as a user would run them), judged only
from outside (hil/tests/scenario.py):

- the replay passes with --expect contract on a clean line;
- each scenario fails, and its text names what was seen from outside, with times.

The bridge runs from ROMFS at the chip's heap (as mqtt_as needs on an ESP8266).
About 5 minutes; runs in the default pass of the suite only (the way the outer
run deploys this project's bridge does not matter to it).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # the scenarios against other bridges

ROOT = Path(__file__).resolve().parents[2]
VARIANT = Path(__file__).with_name("variants") / "seed_style"
REPLAY = "test_replay.py"
REPLAYS = ("test_each_capture_replayed_three_times_matches_oracle",  # both captures
           "test_a_synthesized_sequence_matches_oracle_telegram_by_telegram")
SCENARIOS = (
    "test_overflow.py::test_stalled_broker_bounded_supersedes_and_recovers",
    "test_network.py::test_broker_restart_recovers_without_reboot",
    "test_network.py::test_broker_down_while_the_bridge_boots",
    "test_network.py::test_wifi_loss_recovers_without_reboot",
)
# What the rig sees from outside (at least one must name the failure).
OUTSIDE = ("lost: nothing published", "late: published", "stale: published after", "not every value was published",
           "MemoryError on the bridge's serial", "the bridge restarted", "a traceback on the bridge's serial",
           "heap not bounded", "heap too low for the chip", "never published whole")
# What only this project's status topic could say: the variant has none.
FROM_STATUS = ("status counted", "superseded stayed", "uptime went back", "rose from")
RIG_WORDS = ("bridge:", "boot window", "telegram ok", "crc error", "truncated", "status")


def _mqtt_as_only(tmp_path: Path, mqtt_as_dir: Path) -> Path:
    """A --bridge-lib directory with mqtt_as.py alone (MQTT_AS_DIR also holds its demos)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(mqtt_as_dir / "mqtt_as.py", lib)
    return lib


def _outcomes(junit: Path) -> dict[str, str]:
    """Test id → "" when it passed, else its failure text, from a JUnit XML file."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        text = "" if failure is None else (failure.get("message", "") + (failure.text or ""))
        if skipped is not None:
            text = "skipped: " + skipped.get("message", "")
        out[case.get("name")] = text
    return out


def test_the_seed_style_bridge_says_nothing_the_rig_knows():
    for source in VARIANT.glob("*.py"):
        code = "\n".join(line for line in source.read_text().splitlines() if "print(" in line)
        said = [w for w in RIG_WORDS if w in code]
        assert not said, f"{source.name} prints {said}: the reference must not help the rig"


@pytest.mark.timeout(1500)
def test_replay_passes_and_every_scenario_fails_from_outside_on_a_seed_style_bridge(tmp_path, rig_kind,
                                                                                     pytestconfig, request):
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own")
    if pytestconfig.getoption("--bridge-deploy") is not DEFAULT_DEPLOY:
        pytest.skip("runs in the default pass of the suite only: it deploys its own bridge its own way")
    # The seed-style bridge runs on mqtt_as: skipped without it, failed where the run must have it.
    lib = _mqtt_as_only(tmp_path, request.getfixturevalue("mqtt_as_dir"))
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=short",
         str(ROOT / "hil/tests" / REPLAY), *(str(ROOT / "hil/tests" / s) for s in SCENARIOS),
         "-k", " or ".join(REPLAYS + tuple(s.split("::")[1] for s in SCENARIOS)),
         "--bridge-firmware", str(VARIANT), "--bridge-lib", str(lib), "--bridge-deploy", "romfs",
         "--bridge-config", str(VARIANT / "config.template.json"), "--expect", "contract",
         "--basetemp", str(tmp_path / "inner"), "--report-dir", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=1400)
    out = (result.stdout + result.stderr)[-4000:]
    outcomes = _outcomes(report / "junit.xml") if (report / "junit.xml").is_file() else {}
    problems = []
    replays = {name: text for name, text in outcomes.items() if name.startswith(REPLAYS)}
    if len(replays) != 3:
        problems.append(f"expected the replay of both captures and of a sequence, got {sorted(replays)}")
    for name, text in replays.items():
        if text:
            problems.append(f"{name}: the seed-style bridge publishes every contract value of a clean "
                            f"replay, but the replay failed:\n{text[:1500]}")
    for scenario in SCENARIOS:
        name = scenario.split("::")[1]
        text = outcomes.get(name)
        if text is None:
            problems.append(f"{name}: did not run")
        elif not text or text.startswith("skipped"):
            problems.append(f"{name}: {text or 'passed'} on a bridge that queues every telegram")
        else:
            seen = [r for r in OUTSIDE if r in text]
            timed = re.search(r"\bat \d+\.\d s\b|between \d+\.\d and \d+\.\d s", text)
            status = [r for r in FROM_STATUS if r in text]
            if not seen or not timed:
                problems.append(f"{name}: failed without naming what was seen from outside, with times:\n"
                                f"{text[:1500]}")
            if status:
                problems.append(f"{name}: its failure quotes a status topic the bridge does not have: {status}")
            print(f"{name} failed on the seed-style bridge, seen from outside: {'; '.join(seen)}")
            print("   " + "\n   ".join(line.strip() for line in text.splitlines()
                                         if line.strip().startswith("- ") and "status" not in line)[:800])
    assert not problems, "\n".join(problems) + f"\n--- inner run ---\n{out}"
