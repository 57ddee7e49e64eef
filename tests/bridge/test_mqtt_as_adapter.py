"""The mqtt_as backend (mqtt_as_adapter.py) against a recording fake mqtt_as that
has only the library's documented API: a fast check of the call shapes. The
adapter against the real library runs on the rig (hil/tests/test_mqtt_as.py)."""

import json
import os
import subprocess

from conftest import CAPTURES, FIRMWARE, MPY_SCRIPTS, ROOT, mpy_cmd
from test_reader import expected

SAG = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()


def run_adapter(tmp_path, **mqtt):
    cfg = {"wifi": {"ssid": "net", "password": "wifipw"},
           "mqtt": {"host": "broker.lan", "port": 1884, "user": "u", "password": "pw", "client_id": "p1b",
                    "keepalive": 30, **mqtt},
           "base_topic": "p1", "boot_window_ms": 0}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "t.p1").write_bytes(SAG)
    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        [".frozen", str(MPY_SCRIPTS / "fake_mqtt_as"), str(FIRMWARE), str(MPY_SCRIPTS)]))
    r = subprocess.run(mpy_cmd("run_adapter.py", tmp_path / "config.json", tmp_path / "t.p1"), env=env,
                       cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_adapter_uses_the_documented_mqtt_as_api(tmp_path):
    out = run_adapter(tmp_path)
    lines = out.splitlines()
    assert "backend mqtt_as" in lines[0] or any(l.startswith("backend mqtt_as") for l in lines)
    init = next(l for l in lines if l.startswith("fake_mqtt_as: init"))
    for frag in ("('server', 'broker.lan')", "('port', 1884)", "('user', 'u')", "('password', 'pw')",
                 "('ssid', 'net')", "('wifi_pw', 'wifipw')", "('keepalive', 30)", "('queue_len', 0)",
                 "('client_id', 'p1b')", "('will', ('p1/online', 'offline', True, 0))",
                 "('response_time', 10.0)", "('max_repubs', 0)"):
        assert frag in init, f"{frag} not in {init}"
    assert "fake_mqtt_as: callbacks True True" in lines
    # First connect fails (broker not up): logged, retried with quick=True.
    assert "fake_mqtt_as: connect quick=True try=1" in lines and "fake_mqtt_as: connect quick=True try=2" in lines
    assert any("mqtt connect to broker.lan:1884 failed" in l for l in lines)
    assert "mqtt connected to broker.lan:1884 (mqtt_as)" in lines
    pre = "fake_mqtt_as: publish "
    pubs = [l[len(pre):] for l in lines if l.startswith(pre)]
    phase = lines.index("phase outage")
    before = [l[len(pre):] for l in lines[:phase] if l.startswith(pre)]
    # Status (retained) then online (retained) at connect, values with the configured QoS 1.
    assert before[0].startswith("p1/status {\"version\":\"0.2.0\",\"mqtt_backend\":\"mqtt_as\"")
    assert before[0].endswith("retain=True qos=1")
    assert before[1] == "p1/online online retain=True qos=1"
    values = {}
    for p in before[2:]:
        topic, rest = p.split(" ", 1)
        payload, r, q = rest.rsplit(" ", 2)
        flags = r + " " + q
        assert flags == "retain=False qos=1", p
        values[topic[3:]] = payload
    assert values == expected(SAG)
    # After an outage the adapter reports down/up and the snapshot is republished.
    after = [l[len(pre):] for l in lines[phase:] if l.startswith(pre)]
    assert "mqtt disconnected (mqtt_as reconnects)" in lines[phase:]
    assert any(a.startswith("p1/status ") for a in after) and len(after) >= 44 + 2
    assert len(pubs) >= 2 * 44 + 4


def test_qos0_is_passed_through(tmp_path):
    out = run_adapter(tmp_path, qos=0)
    vals = [l for l in out.splitlines() if l.startswith("fake_mqtt_as: publish p1/frequency")]
    assert vals and vals[0].endswith("retain=False qos=0")


def test_builtin_forced_even_when_mqtt_as_is_installed(tmp_path):
    cfg = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h", "backend": "builtin"}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        [".frozen", str(MPY_SCRIPTS / "fake_mqtt_as"), str(FIRMWARE), str(MPY_SCRIPTS)]))
    code = ("import config, bridge; c, p = config.load(%r); b = bridge.from_config(c, print); print(b.client.name)"
            % str(tmp_path / "c.json"))
    r = subprocess.run([mpy_cmd("run_config.py")[0], "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert r.stdout.strip().splitlines()[-1] == "builtin", r.stdout + r.stderr
