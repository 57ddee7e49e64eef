"""The bridge's values at the consumer users run: Zabbix.

The template users import (hil.zabbix.template, generated from the firmware's
tables) goes to a real zabbix_agent2 through a model of the Zabbix 6.0 server
(hil.zabbix.check and hil.zabbix.protocol: no Zabbix server runs here); the
agent's MQTT plugin subscribes on the rig's broker; the SX631 capture is
replayed. Every template item must get a value, and each must be what the
model stores for the oracle's reading of the same bytes (FLOAT items parse as
numbers). A template with a misspelt topic fails, naming the item.
"""
from __future__ import annotations

from ..p1.captures import sx631
from ..zabbix.check import check_replay
from ..zabbix.template import build, mqtt_key


def test_every_template_item_gets_the_oracles_value_through_zabbix_agent2_into_the_server_model(rig, broker, why, tmp_path):
    capture = sx631()
    tree = build()
    result = check_replay(rig, broker, tree, capture.file, capture.data, tmp_path / "agent")
    assert result.passed, why(result.problems)
    items = tree["zabbix_export"]["templates"][0]["items"]
    assert len(result.rows) == len(items)
    floats = [r for r in result.rows if r.item.value_type == "FLOAT" and r.item.type == "ZABBIX_ACTIVE"]
    assert floats and all(isinstance(r.value, float) for r in floats)
    online = next(r for r in result.rows if r.item.key == mqtt_key("online"))
    assert online.value == "online"
    status = {r.item.key: r.value for r in result.rows if r.item.key.startswith("p1bridge.status[")}
    assert status["p1bridge.status[crc_errors]"] == 0 and status["p1bridge.status[telegrams_ok]"] >= 1, why(
        [f"the status as the model of Zabbix stores it, after a clean replay: {status}"])


def test_a_template_item_with_a_misspelt_topic_fails_naming_the_item(rig, broker, tmp_path):
    capture = sx631()
    tree = build()
    item = next(i for i in tree["zabbix_export"]["templates"][0]["items"] if i["key"] == mqtt_key("frequency"))
    item["key"] = item["key"].replace("/frequency", "/frequncy")
    result = check_replay(rig, broker, tree, capture.file, capture.data, tmp_path / "agent")
    assert not result.passed
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert problem.startswith(f"Frequency [{item['key']}]: no value: the bridge never published "), problem
    assert "during the check" in problem
    assert problem.endswith(f"(did you mean {rig.base_topic}/frequency?)"), problem
