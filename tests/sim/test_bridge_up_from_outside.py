"""The rig knows a bridge is up when the broker sees its MQTT client connect:
nothing from the bridge's firmware is needed (no log line of this project's
bridge). A bridge whose client never connects fails the deploy with the broker's
and the bridge's own view of it."""
from __future__ import annotations

import shutil

import pytest

from hil.rig.board import BoardTimeout
from hil.rig.rig import BRIDGE_FIRMWARE, RigState
from hil.rig.session import BridgeSpec, RigSpec, open_rig
from hil.sim.clock import UNTIMED_SPEED
from test_bridge_frozen import replay_one_capture

SAYS_CONNECTED = '"mqtt connected to %s:%d"'


def test_a_bridge_that_never_logs_its_connection_is_brought_up_and_judged(tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(BRIDGE_FIRMWARE, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    client = firmware / "mqtt_min.py"
    source = client.read_text()
    assert SAYS_CONNECTED in source, "mqtt_min.py no longer logs its connection this way: update this test"
    client.write_text(source.replace(SAYS_CONNECTED, '"link up %s:%d"'))
    with open_rig(RigSpec(workdir=tmp_path / "rig", board_speed=UNTIMED_SPEED,
                          bridge=BridgeSpec(firmware=firmware))) as session:
        rig, broker = session.rig, session.broker
        assert rig.state is RigState.RUNNING
        assert not [line for line in rig.bridge.log.lines if "connected" in line and "mqtt" in line], (
            "the variant must not print the line the rig used to wait for")
        replay_one_capture(rig, broker)


def test_a_bridge_whose_client_never_connects_fails_the_deploy_naming_the_client(tmp_path):
    wrong_password = ('{"wifi": {"ssid": "$wifi_ssid", "password": "$wifi_password"}, '
                      '"mqtt": {"host": "$broker_host", "port": $broker_port, "user": "$broker_user", '
                      '"password": "not-the-brokers", "client_id": "$client_id"}, "base_topic": "$base_topic"}')
    with pytest.raises(BoardTimeout) as failure:
        with open_rig(RigSpec(workdir=tmp_path / "rig", board_speed=UNTIMED_SPEED,
                              bridge=BridgeSpec(config_template=wrong_password))):
            pass
    text = str(failure.value)
    assert "the broker saw no connection from client 'p1bridge-hil'" in text
    assert "bridge: mqtt connect to" in text, f"the bridge's own view belongs in the failure:\n{text}"
