"""The suite against a bridge built the seed's way, as a user brings one.

variants/seed_style is the rig's reference for that design: a readline + re
reader, a 100-slot queue of telegrams between reader and publisher, mqtt_as
as the client, no CRC check, no status topic, its own config format (given to
the rig as a template), and nothing on its serial port the rig knows. The
replay test and the four overflow and network scenarios run against it in a
rig of their own (pytest in pytest, as a user would run them), judged only
from outside (hil/tests/scenario.py):

- the replay of the synthesized sequence fails (a capture's, three telegrams,
  passed once: docs/FIDELITY.md), and its text shows the bridge's UART ring
  dropping bytes of the line that the host's load does not explain: readline, `re` and a
  queue per line do not keep up with 115200 baud on an 80 MHz ESP8266
  (docs/FIDELITY.md gives the figures). So the inner run is always at the
  chip's speed, whatever --board-speed the outer run has; at the host's the
  same replay passes (tests/sim/test_bridge_repository_ci.py runs it there);
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
from hil.sim.model import board_model

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # the scenarios against other bridges

ROOT = Path(__file__).resolve().parents[2]
VARIANT = Path(__file__).with_name("variants") / "seed_style"
REPLAY = "test_replay.py"
SEQUENCE_REPLAY = "test_a_synthesized_sequence_matches_oracle_telegram_by_telegram"
REPLAYS = ("test_each_capture_replayed_three_times_matches_oracle",  # both captures
           SEQUENCE_REPLAY)
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


def _firmwares_drops(failure: str) -> int:
    """Bytes the bridge's UART ring dropped that the host's load does not explain,
    as a failing HIL test's text gives them (hil/tests/conftest.py: why)."""
    found = re.search(r"ring dropped (\d+) B(?:.*?; (\d+) B of it)?", failure)
    return int(found[1]) - int(found[2] or 0) if found else 0


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
def test_a_seed_style_bridge_loses_bytes_at_the_chips_speed_and_fails_every_scenario_from_outside(
        tmp_path, rig_kind, pytestconfig, request):
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own")
    if not board_model().faithful:
        pytest.skip(f"{board_model().name}: has no chip clock, so a bridge too slow for the chip keeps up there; "
                    "run scripts/bootstrap with MICROPYTHON_SRC set to build the virtual ESP8266")
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
         "--basetemp", str(tmp_path / "inner"), "--report-dir", str(report), "--board-speed", "chip"],
        cwd=ROOT, capture_output=True, text=True, timeout=1400)
    out = (result.stdout + result.stderr)[-4000:]
    outcomes = _outcomes(report / "junit.xml") if (report / "junit.xml").is_file() else {}
    problems = []
    replays = {name: text for name, text in outcomes.items() if name.startswith(REPLAYS)}
    if len(replays) != 3:
        problems.append(f"expected the replay of both captures and of a sequence, got {sorted(replays)}")
    for name, text in replays.items():
        dropped = _firmwares_drops(text)
        if not text and not name.startswith(SEQUENCE_REPLAY):
            # Three telegrams a second apart: in one fresh-clone run (2026-12-07) the SX631
            # replay passed where earlier runs dropped 3.2-4.2 KB (docs/FIDELITY.md); the ten
            # telegrams of the sequence, below, drop 8-18 KB and are the verdict.
            print(f"{name} passed at the chip's speed: the seed-style bridge kept up with these telegrams")
        elif not text or dropped <= 0:
            problems.append(f"{name}: at the chip's speed the seed-style bridge's ring drops bytes of the line, "
                            f"but the replay {'passed' if not text else 'failed without naming them'}:\n"
                            f"{text[:1500]}")
        else:
            print(f"{name} failed at the chip's speed: the bridge's UART ring dropped {dropped} B of the line")
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
