"""A bridge that publishes a number with its unit ("234.0*V") passes the rig's
own subscriber's eye as text, but a Zabbix FLOAT item refuses it: the consumer
check through zabbix_agent2 fails, naming that item and Zabbix's reason.

The variant is this project's bridge with one field's kind changed from number
to text in its generated table (obismap.py): the text kind publishes the value
exactly as the meter sent it."""
from __future__ import annotations

import ast
import re
import shutil

from hil.p1.captures import sx631
from hil.rig.rig import BRIDGE_FIRMWARE
from hil.rig.session import BridgeSpec, RigSpec, open_rig
from hil.zabbix.check import check_replay
from hil.zabbix.template import build, mqtt_key
from hil.sim.clock import UNTIMED_SPEED

FIELD = b"instantaneous_voltage_in_phase_L1"


def _publish_with_unit(firmware) -> None:
    source = (firmware / "obismap.py").read_text()
    names = re.search(r"NAMES = \(\n(.*?)\n\)", source, re.S).group(1).split("\n")
    slot = [ast.literal_eval(n.strip()) for n in names].index(FIELD + b"\n")
    kinds = ast.literal_eval(re.search(r"^KIND = (b'.*')$", source, re.M).group(1))
    assert kinds[slot] == 0, "the field is no longer a number: update this test"
    changed = kinds[:slot] + b"\x01" + kinds[slot + 1:]  # K_TEXT: the value as the meter sent it
    (firmware / "obismap.py").write_text(source.replace(f"KIND = {kinds!r}", f"KIND = {changed!r}"))


def test_a_bridge_publishing_a_unit_fails_the_zabbix_check_naming_the_item(tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(BRIDGE_FIRMWARE, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    _publish_with_unit(firmware)
    capture = sx631()
    with open_rig(RigSpec(workdir=tmp_path / "rig", board_speed=UNTIMED_SPEED,
                          bridge=BridgeSpec(firmware=firmware))) as session:
        result = check_replay(session.rig, session.broker, build(), capture.file, capture.data, tmp_path / "agent")
    assert len(result.problems) == 1, result.problems
    key = mqtt_key(FIELD.decode())
    assert result.problems[0] == (
        f"Instantaneous voltage in phase L1 [{key}]: Zabbix would not store it: Value of type \"string\" is not "
        f"suitable for value type \"Numeric (float)\". Value \"234.0*V\""), result.problems[0]
