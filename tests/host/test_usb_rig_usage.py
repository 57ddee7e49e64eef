"""--rig usb without what a real rig needs stops before anything runs, with the
fix in the message: never a green run of skipped tests."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                           str(ROOT / "hil/tests/test_replay.py"), "--rig", "usb", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


# Bound by path, a role's port is taken as given at this stage (nothing is
# opened before the checks): two character devices stand in for two boards.
TWO_PORTS = ("--emulator-port", "/dev/null", "--bridge-port", "/dev/zero")


def test_no_boards_is_a_usage_error_naming_the_options():
    r = _pytest("--emulator-port", "/dev/does-not-exist", "--bridge-port", "/dev/also-missing")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "--rig usb:" in r.stderr and "--emulator-port/--bridge-port" in r.stderr


def test_a_loopback_broker_for_real_boards_is_a_usage_error():
    r = _pytest(*TWO_PORTS)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "--broker-host 192.168.x.y" in r.stderr and "firewall" in r.stderr


def test_no_wifi_for_real_boards_is_a_usage_error(tmp_path):
    cfg = tmp_path / "rig.json"
    cfg.write_text(json.dumps({"broker": {"host": "192.168.1.20"}}))
    r = _pytest(*TWO_PORTS, "--rig-config", str(cfg))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "\"wifi\" section" in r.stderr
