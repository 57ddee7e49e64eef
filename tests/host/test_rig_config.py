"""The bench's rig config (hil.rig.benchconfig): one typed reading of the file,
options over it, and the defaults it states once equal to the bridge firmware's own."""
from __future__ import annotations

import importlib.util
import json

import pytest

from hil.rig import benchconfig
from hil.rig.benchconfig import RigConfigError, load_rig_config
from hil.rig.rig import SUITE_BOOT_WINDOW_MS
from hil.shipped import BRIDGE_FIRMWARE


def _firmware_defaults() -> dict:
    spec = importlib.util.spec_from_file_location("_bridge_config_defaults", BRIDGE_FIRMWARE / "config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DEFAULTS


def test_the_rigs_defaults_are_the_bridge_firmwares_own():
    defaults = _firmware_defaults()
    assert benchconfig.DEFAULT_BASE_TOPIC == defaults["base_topic"]
    assert benchconfig.DEFAULT_BROKER_PORT == defaults["mqtt"]["port"]
    # The suite shortens the boot window; a longer one would only cost time per reset.
    assert 0 < SUITE_BOOT_WINDOW_MS < defaults["boot_window_ms"]


def _write(tmp_path, cfg) -> str:
    path = tmp_path / "rig.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_the_file_typed_and_options_over_it(tmp_path):
    cfg = load_rig_config(_write(tmp_path, {
        "_comment": "x", "wifi": {"ssid": "w"}, "broker": {"host": "192.168.1.10", "user": "u"},
        "boards": {"bridge": "location:1-1.3"}, "bridge": {"boot_window_ms": 2000}}))
    assert cfg.wifi == ("w", "") and cfg.broker.host == "192.168.1.10" and cfg.broker.port is None
    assert cfg.topic == benchconfig.DEFAULT_BASE_TOPIC and cfg.binding("bridge") == "location:1-1.3"
    assert cfg.binding("emulator") is None and cfg.bridge == {"boot_window_ms": 2000}
    assert set(cfg.keys) == {"_comment", "wifi", "broker", "boards", "bridge"}
    given = cfg.with_options(broker_host="10.0.0.2", broker_port=1884, broker_password="", base_topic="meter",
                             bindings={"emulator": "/dev/ttyUSB0", "bridge": None})
    assert (given.broker.host, given.broker.port, given.broker.user, given.broker.password) == \
        ("10.0.0.2", 1884, "u", "")
    assert given.topic == "meter" and given.boards == {"emulator": "/dev/ttyUSB0", "bridge": "location:1-1.3"}
    assert load_rig_config(None) == benchconfig.RigConfig()


@pytest.mark.parametrize("cfg, words", [
    ([1], "must hold a JSON object"),
    ({"broker": "192.168.1.10"}, "\"broker\" must be a JSON object"),
    ({"broker": {"port": "1883"}}, "broker.port must be a number"),
])
def test_a_malformed_file_is_named_with_the_fix(tmp_path, cfg, words):
    with pytest.raises(RigConfigError, match="rig.example.json|must be a number") as e:
        load_rig_config(_write(tmp_path, cfg))
    assert words in str(e.value)
