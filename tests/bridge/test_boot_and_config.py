"""config.json validation and main.py's boot flow (fake board modules), on MicroPython."""

import json
import os
import subprocess

from conftest import FAKEBOARD_PATH, FIRMWARE, MPY_SCRIPTS, micropython_path, run_mpy
from test_mqtt_as_fallback import MainLoop

GOOD = {"wifi": {"ssid": "net", "password": "pw"},
        "mqtt": {"host": "127.0.0.1", "port": 1883, "user": "p1bridge", "password": "x",
                 "client_id": "p1bridge", "keepalive": 60},
        "base_topic": "p1", "boot_window_ms": 0, "uart_rxbuf": 1024}


def validate(*docs):
    return json.loads(run_mpy("run_config.py", *[json.dumps(d) for d in docs]).splitlines()[-1])


def test_example_config_is_valid():
    (r,) = json.loads(run_mpy("run_config.py", "@" + str(FIRMWARE / "config.example.json")).splitlines()[-1])
    assert r["problems"] == []
    assert r["cfg"]["mqtt"]["keepalive"] == 60


def test_defaults_filled_and_problems_named():
    minimal = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h"}}
    bad = {"wifi": {"ssid": ""}, "mqtt": {"host": "h", "port": True, "keepalive": -1, "colour": 1},
           "base_topic": "p1/#", "uart_rxbuf": 10, "extra": 1}
    ok, b = validate(minimal, bad)
    assert ok["problems"] == []
    assert ok["cfg"]["base_topic"] == "p1" and ok["cfg"]["uart_rxbuf"] == 1024
    assert ok["cfg"]["mqtt"]["port"] == 1883 and ok["cfg"]["boot_window_ms"] == 2000
    text = "\n".join(b["problems"])
    for frag in ("wifi.ssid", "mqtt.port: must be an integer", "mqtt.keepalive", "mqtt.colour: unknown key",
                 "base_topic", "uart_rxbuf", "extra: unknown key"):
        assert frag in text, f"{frag!r} not reported in:\n{text}"


def test_a_secret_of_the_wrong_type_is_named_not_echoed():
    (r,) = validate({"wifi": {"ssid": "n", "password": 98765432}, "mqtt": {"host": "h", "user": "u",
                                                                        "password": ["s3cret-list"]}})
    text = "\n".join(r["problems"])
    assert "wifi.password: must be a string, got a int" in text and "mqtt.password: must be a string" in text, text
    assert "98765432" not in text and "s3cret-list" not in text, text


def _boot(tmp_path, cfg_text):
    if cfg_text is not None:
        (tmp_path / "config.json").write_text(cfg_text)
    env = dict(os.environ, MICROPYPATH=FAKEBOARD_PATH)
    return subprocess.run([micropython_path(), str(MPY_SCRIPTS / "run_main.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)


def test_bad_config_stops_at_repl_without_detaching(tmp_path):
    cfg = dict(GOOD, mqtt={"host": "h", "port": 0})
    r = _boot(tmp_path, json.dumps(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bridge: p1 -> mqtt bridge" in r.stdout and "reset cause 0" in r.stdout
    assert "bridge: config problem: mqtt.port: 0 is outside 1..65535" in r.stdout
    assert "bridge: not started" in r.stdout
    assert "dupterm" not in r.stdout and "UART" not in r.stdout
    assert "fake: main.py returned to the REPL" in r.stdout


def test_missing_and_broken_config(tmp_path):
    r = _boot(tmp_path, None)
    assert "config problem: config.json: cannot read" in r.stdout and "dupterm" not in r.stdout
    r = _boot(tmp_path, "{not json")
    assert "config problem: config.json: not valid JSON" in r.stdout and "dupterm" not in r.stdout


def test_good_config_opens_uart_with_the_repl_still_attached(tmp_path):
    r = _boot(tmp_path, json.dumps(dict(GOOD, uart_rxbuf=2048)))  # the fake UART() ends the run (exit 3)
    out = r.stdout
    assert "bridge: boot window 0 ms" in out
    assert "fake: UART(0, baudrate=115200, rxbuf=2048)" in out and "dupterm" not in out, out
    # The chip's faster clock before the line opens (config cpu_mhz, default 160).
    assert out.index("fake: freq(160000000)") < out.index("fake: UART(0,")
    assert r.returncode == 3, out + r.stderr


def test_the_repl_is_detached_once_the_bridge_is_built_and_just_before_uart0_is_read(tmp_path):
    """Detaching the REPL is what sends the P1 line into the uart_rxbuf ring
    (ports/esp8266/uart.c: while UART0 is on dupterm its bytes go to the REPL's
    input). Building the bridge takes longer at the chip's speed than the
    1,024 B ring lasts at 115200 baud (89 ms), so it comes first."""
    board = MainLoop(tmp_path, FAKEBOARD_PATH, GOOD)
    try:
        board.p1_line()
        board.wait_line("fake: UART(0) read first")
        out = board.output()
        order = ["fake: UART(0, baudrate=115200, rxbuf=1024)", "bridge: started, free",
                 "bridge: config ok; detaching REPL", "fake: dupterm(None, 1)", "fake: UART(0) read first"]
        assert [out.index(line) for line in order] == sorted(out.index(line) for line in order), out
    finally:
        board.kill()


def test_new_keys_defaults_and_ranges():
    minimal = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h"}}
    good = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h", "qos": 0, "max_inflight": 16, "timeout_ms": 500,
                                            "backoff_max_ms": 600000, "backend": "mqtt_as"},
            "telegram_timeout_ms": 50, "status_interval_s": 1, "liveness_s": 0}
    bad = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h", "qos": 2, "max_inflight": 0, "timeout_ms": 100,
                                           "backoff_max_ms": "4000", "backend": "paho"},
           "telegram_timeout_ms": 10, "status_interval_s": 0, "liveness_s": -1}
    ok, g, b = validate(minimal, good, bad)
    assert ok["problems"] == [] and g["problems"] == []
    m = ok["cfg"]["mqtt"]
    assert (m["qos"], m["max_inflight"], m["timeout_ms"], m["backoff_max_ms"], m["backend"]) == (1, None, 10000, 4000, "auto")
    assert ok["cfg"]["telegram_timeout_ms"] == 1000 and ok["cfg"]["status_interval_s"] == 60
    assert ok["cfg"]["liveness_s"] == 300 and g["cfg"]["liveness_s"] == 0
    text = "\n".join(b["problems"])
    for frag in ("mqtt.qos: 2 is outside 0..1", "mqtt.max_inflight: 0 is outside 1..64",
                 "mqtt.timeout_ms: 100 is outside", "mqtt.backoff_max_ms: must be an integer",
                 "mqtt.backend: 'paho' is not one of auto, builtin, mqtt_as",
                 "telegram_timeout_ms: 10 is outside", "status_interval_s: 0 is outside 1..86400",
                 "liveness_s: -1 is outside 0..86400"):
        assert frag in text, f"{frag!r} not reported in:\n{text}"
    assert len(b["problems"]) == 8


def test_cpu_mhz_is_one_of_the_chips_two_clocks():
    base = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h"}}
    ok, slow, odd, fast, flag = validate(base, dict(base, cpu_mhz=80), dict(base, cpu_mhz=120),
                                         dict(base, cpu_mhz=240), dict(base, cpu_mhz=True))
    assert ok["cfg"]["cpu_mhz"] == 160 and ok["problems"] == []
    assert slow["cfg"]["cpu_mhz"] == 80 and slow["problems"] == []
    assert odd["problems"] == ["cpu_mhz: 120 is not 80 or 160 (the ESP8266's two clocks)"]
    assert fast["problems"] == ["cpu_mhz: 240 is outside 80..160"]
    assert flag["problems"] == ["cpu_mhz: must be an integer, got True"]


def test_repl_idle_s_default_range_and_type():
    """repl_idle_s: seconds a board left at the REPL waits before it resets
    into the bridge (0: never). Anything else is a problem, as for every key."""
    minimal = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h"}}
    docs = [minimal] + [dict(minimal, repl_idle_s=v) for v in (0, 86400, -1, 86401, "300", True, 2.5)]
    default, off, longest, negative, too_long, text, boolean, fraction = validate(*docs)
    assert default["problems"] == [] and default["cfg"]["repl_idle_s"] == 300
    assert off["problems"] == [] and off["cfg"]["repl_idle_s"] == 0
    assert longest["problems"] == [] and longest["cfg"]["repl_idle_s"] == 86400
    assert negative["problems"] == ["repl_idle_s: -1 is outside 0..86400"]
    assert too_long["problems"] == ["repl_idle_s: 86401 is outside 0..86400"]
    assert text["problems"] == ["repl_idle_s: must be an integer, got '300'"]
    assert boolean["problems"] == ["repl_idle_s: must be an integer, got True"]
    assert fraction["problems"] == ["repl_idle_s: must be an integer, got 2.5"]


def test_a_start_up_stopped_at_the_repl_arms_the_reset_into_the_bridge(tmp_path):
    """However start-up stops at the REPL, a one-shot timer resets the board
    after repl_idle_s (its own value, or the default where config.json gives
    none that passes), and stay() is at the prompt; 0 arms nothing."""
    line = "bridge: at the REPL: the board resets into the bridge in %d s; stay() keeps the REPL"
    problem = dict(GOOD, mqtt={"host": "h", "port": 0}, repl_idle_s=42)
    r = _boot(tmp_path, json.dumps(problem))
    assert "fake: Timer(mode=0, period=42000)" in r.stdout and line % 42 in r.stdout, r.stdout + r.stderr
    assert r.stdout.index("bridge: not started") < r.stdout.index(line % 42)
    for cfg_text in (None, "{not json", json.dumps(dict(problem, repl_idle_s=-5))):
        (tmp_path / "config.json").unlink(missing_ok=True)
        r = _boot(tmp_path, cfg_text)
        assert "fake: Timer(mode=0, period=300000)" in r.stdout and line % 300 in r.stdout, r.stdout + r.stderr
    r = _boot(tmp_path, json.dumps(dict(problem, repl_idle_s=0)))
    assert "Timer" not in r.stdout and "bridge: at the REPL (repl_idle_s 0: it stays there)" in r.stdout, r.stdout
    assert "fake: main.py returned to the REPL, stay() at the prompt" in r.stdout, r.stdout
