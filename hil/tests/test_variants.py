"""The overflow scenarios catch a bridge built the seed's way: pointed with
--bridge-firmware at a variant that queues every value without bound, they
fail, each with a message that says why. (The project's bridge passes them in
the normal run.) Marked long: it replays the scenarios in a rig of its own."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIANT = Path(__file__).with_name("variants") / "unbounded_queue"


@pytest.fixture
def unbounded_bridge(tmp_path) -> Path:
    firmware = tmp_path / "bridge_unbounded"
    shutil.copytree(ROOT / "bridge_firmware", firmware, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(VARIANT / "snapshot.py", firmware / "snapshot.py")
    return firmware


@pytest.mark.long
def test_overflow_scenarios_fail_on_an_unbounded_queue(unbounded_bridge, tmp_path, rig_kind):
    if rig_kind != "sim":
        pytest.skip("runs a virtual rig of its own")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=line",
         str(ROOT / "hil/tests/test_overflow.py::test_stalled_broker_bounded_supersedes_and_recovers"),
         "--bridge-firmware", str(unbounded_bridge), "--basetemp", str(tmp_path / "inner"),
         "--report-dir", str(tmp_path / "report")],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode == 1, f"the stall scenario should fail on an unbounded queue:\n{out[-3000:]}"
    assert "1 failed" in out, out[-3000:]
    reasons = [r for r in ("superseded stayed at", "heap not bounded", "the bridge rebooted",
                           "application failed", "not every value was published within 5 s") if r in out]
    assert reasons, f"the failure does not say why:\n{out[-3000:]}"
    print("stall scenario on the unbounded variant failed because:", "; ".join(reasons))
