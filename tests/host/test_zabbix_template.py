"""The Zabbix template: generated from the firmware's tables, the copy users
import is what the generator makes now, it has the shape a Zabbix 6.0 import
needs as far as it is checked here (no Zabbix server imports it), and its units
are the ones the meter writes. Values go through a model of the Zabbix 6.0
server's storing (hil.zabbix.check.stored), not a Zabbix server."""
from __future__ import annotations

import re
import shutil
import struct
import zlib
from pathlib import Path

from hil.cli import main as hil
from hil.oracle.contract import FIRMWARE_TABLE, published_table
from hil.p1 import framing
from hil.p1.captures import load_index
from hil.zabbix import itemkey, template
from hil.zabbix.check import NotStorable, stored, template_items, preprocess
from hil.zabbix.protocol import frame
from hil.zabbix.template import TEMPLATE, build, mqtt_key, render

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "integrations" / "zabbix" / "p1_bridge_mqtt.yaml"


def _items(tree):
    return tree["zabbix_export"]["templates"][0]["items"]


def test_the_committed_template_is_what_the_generator_makes(capsys):
    assert COMMITTED.read_text() == render(), (
        "integrations/zabbix/p1_bridge_mqtt.yaml is stale: run `.venv/bin/hil zabbix-template -o "
        "integrations/zabbix/p1_bridge_mqtt.yaml`")
    assert hil(["zabbix-template"]) == 0
    assert capsys.readouterr().out == render()


def test_a_field_added_to_the_firmware_table_shows_up_in_the_template(tmp_path):
    table = tmp_path / "obis.py"
    shutil.copy(FIRMWARE_TABLE, table)
    source = table.read_text()
    anchor = '    ("1-0:71.4.0", "current_limit_in_phase_L3", "number"),\n'
    assert anchor in source, "the table changed: pick another anchor row"
    table.write_text(source.replace(anchor, anchor + '    ("1-0:21.7.0", "active_power_in_phase_L1", "number"),\n'))
    items = {i["key"]: i for i in _items(build(table=published_table(table)))}
    new = items[mqtt_key("active_power_in_phase_L1")]
    assert (new["name"], new["value_type"], new["units"], new["type"]) == (
        "Active power in phase L1", "FLOAT", "kW", "ZABBIX_ACTIVE")
    assert mqtt_key("active_power_in_phase_L1") not in {i["key"] for i in _items(build())}


# Written out, not read from template.VALUE_TYPES (the generator's own table):
# a test of the generator holds it to what a Zabbix user needs.
VALUE_TYPE_OF_KIND = {"number": "FLOAT", "text": "CHAR", "breaker": "CHAR", "profile": "TEXT"}


def test_one_item_per_published_name_with_the_value_type_of_its_kind():
    items = {i["key"]: i for i in _items(build())}
    # A few by name: a voltage is a number, the breaker a word, the billing
    # profile JSON longer than a CHAR item keeps (255 characters).
    assert items[mqtt_key("instantaneous_voltage_in_phase_L1")]["value_type"] == "FLOAT"
    assert items[mqtt_key("positive_energy_total")]["value_type"] == "FLOAT"
    assert items[mqtt_key("breaker_state")]["value_type"] == "CHAR"
    assert items[mqtt_key("timestamp")]["value_type"] == "CHAR"
    assert items[mqtt_key("billing_profile")]["value_type"] == "TEXT"
    names = {}
    for _obis, name, kind in published_table():
        names.setdefault(name, kind)
    assert set(names.values()) == set(VALUE_TYPE_OF_KIND), "a new kind needs its Zabbix type written here"
    for name, kind in names.items():
        assert items[mqtt_key(name)]["value_type"] == VALUE_TYPE_OF_KIND[kind], name
    fields = template.status_fields()
    assert ("crc_errors", "#") in fields and ("version", "@") in fields
    for field, mark in fields:
        dep = items[template.status_key(field)]
        assert dep["type"] == "DEPENDENT" and dep["master_item"]["key"] == mqtt_key("status")
        assert dep["preprocessing"] == [{"type": "JSONPATH", "parameters": [f"$.{field}"]}]
    assert items[mqtt_key("status")]["value_type"] == "TEXT" and items[mqtt_key("online")]["value_type"] == "CHAR"
    assert len(items) == len(names) + 2 + len(fields)


def test_units_are_the_ones_the_meter_writes():
    checked = 0
    items = {i["key"]: i for i in _items(build())}
    for capture in load_index():
        values = framing.cosem_values(framing.split_telegrams(capture.data)[0])
        for obis, name, kind in published_table():
            if kind != "number" or obis not in values or b"*" not in values[obis][0]:
                continue
            unit = values[obis][0].split(b"*", 1)[1].decode()
            assert items[mqtt_key(name)].get("units") == unit, f"{obis} {name}: the meter writes *{unit}"
            checked += 1
    assert checked >= 40


def test_the_template_has_the_shape_a_zabbix_6_import_needs_as_checked_here_without_a_server():
    tree = build()
    text = render(tree)
    uuids = re.findall(r"uuid: (\S+)", text)
    assert len(uuids) == len(set(uuids)) > 60
    assert all(re.fullmatch(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", u) for u in uuids), "UUIDv4, 32 hex"
    assert "\t" not in text
    t = tree["zabbix_export"]["templates"][0]
    keys = {i["key"] for i in t["items"]}
    defined = {m["macro"] for m in t["macros"]}
    triggers = [tr for i in t["items"] for tr in i.get("triggers", [])]
    assert len(triggers) == 4  # offline, no values, CRC errors rising, stalled (liveness)
    for tr in triggers:
        refs = re.findall(r"\(/" + re.escape(TEMPLATE) + r"/(.+?\])[,)]", tr["expression"])
        assert refs and all(r in keys for r in refs), tr["expression"]
    for i in t["items"]:
        assert i["value_type"] in ("FLOAT", "UNSIGNED", "CHAR", "TEXT")
        assert set(itemkey.MACRO.findall(i["key"])) <= defined
        assert i["value_type"] in ("FLOAT", "UNSIGNED") or i.get("trends") == "0", i["name"]
    assert {"nodata", "change", "last"} == {tr["expression"].split("(")[0] for tr in triggers}


def test_macros_are_filled_in_as_the_server_does():
    items = template_items(build(), {"{$DSMR_MQTT_SERVERURL}": "tcp://10.0.0.2:1883", "{$DSMR_MQTT_USERNAME}": "u",
                                     "{$DSMR_MQTT_PASSWORD}": 'p,w"x', "{$DSMR_MQTT_TOPIC}": "home/p1"})
    freq = next(i for i in items if i.key == mqtt_key("frequency"))
    assert freq.resolved == 'mqtt.get[tcp://10.0.0.2:1883,home/p1/frequency,u,"p,w\\"x"]'
    assert itemkey.parse(freq.resolved) == ("mqtt.get", ["tcp://10.0.0.2:1883", "home/p1/frequency", "u", 'p,w"x'])
    assert freq.topic == "home/p1/frequency"
    with pytest.raises(itemkey.ItemKeyError, match=r"\{\$NOPE\}"):
        itemkey.resolve("mqtt.get[{$NOPE}]", {})


def test_values_are_stored_as_the_model_of_the_zabbix_6_server_stores_them():
    assert stored("FLOAT", "234.0") == 234.0 and stored("FLOAT", ' "+1e3" ') == 1000.0
    assert stored("UNSIGNED", "17") == 17 and stored("CHAR", "ON") == "ON"
    for value_type, text in (("FLOAT", "234.0*V"), ("FLOAT", ""), ("UNSIGNED", "-1"), ("UNSIGNED", "1.5"),
                             ("CHAR", "x" * 256)):
        with pytest.raises(NotStorable):
            stored(value_type, text)
    dep = next(i for i in template_items(build(), {}) if i.key == "p1bridge.status[version]")
    assert preprocess(dep, '{"version":"0.3.0","crc_errors":2}') == "0.3.0"
    crc = next(i for i in template_items(build(), {}) if i.key == "p1bridge.status[crc_errors]")
    assert preprocess(crc, '{"version":"0.3.0","crc_errors":2}') == "2"
    with pytest.raises(NotStorable, match="no data matches"):
        preprocess(crc, '{"version":"0.3.0"}')


def test_a_zabbix_frame_reads_back_compressed_or_not():
    import socket

    from hil.zabbix.protocol import read_frame

    message = {"request": "agent data", "data": [{"itemid": 1, "value": "49.99"}]}
    raw = frame(message)
    assert raw[:5] == b"ZBXD\x01" and struct.unpack("<I", raw[5:9])[0] == len(raw) - 13
    packed = zlib.compress(raw[13:])
    compressed = b"ZBXD\x03" + struct.pack("<II", len(packed), len(raw) - 13) + packed
    for data in (raw, compressed):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(data)
            assert read_frame(b) == message


def test_zabbix_check_refuses_a_file_that_is_not_a_template_before_any_rig_comes_up(tmp_path, capsys):
    bad = tmp_path / "export.yaml"
    bad.write_text("zabbix_export:\n  version: '6.0'\n")
    assert hil(["zabbix-check", "--template", str(bad)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{bad}: not a Zabbix template export (zabbix_export → templates → items)" in err
