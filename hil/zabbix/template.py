"""The Zabbix template for the bridge, generated from the firmware's own tables.

One active item (zabbix_agent2's ``mqtt.get``) per name the bridge publishes, read
from bridge_firmware/obis.py's TABLE; the status JSON as a master item with one
dependent item per key, read from bridge_firmware/bridge.py's _STATUS; ``online``;
macros for the broker, the credentials and the base topic; triggers for offline,
stale values, rising CRC errors and a stalled bridge (liveness). Both tables are read with ast (the host never
imports firmware code), so the template cannot drift from what the bridge
publishes: `hil zabbix-template` writes it, and a test checks that the copy in
integrations/zabbix/ is what this module makes now.

The format is Zabbix's YAML export, version 6.0 (what `Configuration → Templates →
Export` writes), so it imports into Zabbix 6.0 and later.
"""
from __future__ import annotations

import ast
import hashlib
import uuid
from pathlib import Path

import yaml

from ..oracle.contract import published_table
from ..rig.benchconfig import DEFAULT_BASE_TOPIC, DEFAULT_BROKER_PORT
from ..shipped import BRIDGE_FIRMWARE

TEMPLATE = "P1 bridge by MQTT"
GROUP = "Templates/Power"
STATUS_SOURCE = BRIDGE_FIRMWARE / "bridge.py"

SERVER_URL = "{$DSMR_MQTT_SERVERURL}"
USERNAME = "{$DSMR_MQTT_USERNAME}"
PASSWORD = "{$DSMR_MQTT_PASSWORD}"
BASE_TOPIC = "{$DSMR_MQTT_TOPIC}"
NODATA_PERIOD = "{$DSMR_NODATA_PERIOD}"

MACROS = (
    (SERVER_URL, f"tcp://localhost:{DEFAULT_BROKER_PORT}", "TEXT", "The broker the bridge publishes to, as zabbix_agent2 reaches it."),
    (USERNAME, "", "TEXT", "MQTT user name (empty: none)."),
    (PASSWORD, "", "SECRET_TEXT", "MQTT password (empty: none)."),
    (BASE_TOPIC, DEFAULT_BASE_TOPIC, "TEXT", "The bridge's base_topic (config.json)."),
    (NODATA_PERIOD, "5m", "TEXT", "No meter value for this long raises the stale-values trigger."),
)

VALUE_TYPES = {"number": "FLOAT", "text": "CHAR", "breaker": "CHAR", "profile": "TEXT"}
"""Zabbix value type of each kind of the firmware's table (bridge_firmware/obis.py).
The billing profile's JSON is longer than a CHAR item keeps (255 characters)."""

STATUS_TYPES = {"#": "UNSIGNED", "@": "CHAR"}
"""Zabbix value type of each field of the status JSON: '#' a counter, '@' a text."""
SIGNED_STATUS = {"reset_cause": "FLOAT"}  # -1 until the bridge knows why it started
STATUS_UNITS = {"uptime_s": "uptime", "heap_free": "B", "heap_min_free": "B"}


def unit(obis: str) -> str:
    """The unit of an OBIS code's value (IEC 62056-61 value groups C and D), as
    the meter writes it after '*'; '' for a count, a ratio or text."""
    try:
        ab, cde = obis.split(":")
        c, d, _e = (int(x) for x in cde.split("."))
    except ValueError:
        return ""
    if ab.startswith("0-"):
        return "kW" if (c, d) == (17, 0) else ""  # 0-0:17.0.0: the power limiter's threshold
    phase = c % 20  # C 21..28, 41..48, 61..68: the same quantities per phase
    if d == 8:  # energy registers
        return "kWh" if phase in (1, 2) or c == 15 else "kvarh" if phase in (3, 4, 5, 6, 7, 8) else ""
    if d in (7, 4):  # instantaneous values (7) and their thresholds (4)
        if c == 14:
            return "Hz"
        if c == 15 or phase in (1, 2):
            return "kW"
        if phase in (3, 4, 5, 6, 7, 8):
            return "kvar"
        if phase == 11:
            return "A"
        if phase == 12:
            return "V"
    return ""


def status_fields(path: Path = STATUS_SOURCE) -> tuple[tuple[str, str], ...]:
    """(key, '@' for text or '#' for a number) of each field of the bridge's
    status JSON, in order, read from the _STATUS pieces the firmware writes
    around its fields (bridge.py): a piece ending in a quote opens a text."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_STATUS" for t in node.targets):
            fields = []
            for piece in ast.literal_eval(node.value)[:-1]:
                text = piece.decode()
                key = text.rstrip('"').rstrip(":").split('"')[-2]
                fields.append((key, "@" if text.endswith('"') else "#"))
            return tuple(fields)
    raise LookupError(f"no literal _STATUS in {path}")


def mqtt_key(topic_name: str) -> str:
    """The item key that subscribes to <base topic>/<topic_name>."""
    return f'mqtt.get[{SERVER_URL},"{BASE_TOPIC}/{topic_name}",{USERNAME},{PASSWORD}]'


def status_key(field: str) -> str:
    return f"p1bridge.status[{field}]"


def _uuid(*names: str) -> str:
    # Stable across runs (a diff shows only real changes), and a UUIDv4 as Zabbix requires.
    digest = hashlib.sha256("\0".join((TEMPLATE,) + names).encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4).hex


def _title(name: str) -> str:
    text = name.replace("_", " ")
    return text[0].upper() + text[1:]


def _tag(name: str, kind: str) -> str:
    if kind != "number":
        return "meter"
    for word, tag in (("energy", "energy"), ("power_factor", "power factor"), ("power", "power"),
                      ("voltage", "voltage"), ("current", "current"), ("frequency", "frequency")):
        if word in name:
            return tag
    return "meter"


def _trigger(expression: str, name: str, priority: str, description: str) -> dict:
    return {"uuid": _uuid("trigger", name), "expression": expression, "name": name, "priority": priority,
            "description": description}


def build(table=None, status=None) -> dict:
    """The template as the YAML export's tree. table: (OBIS, name, kind) rows
    (default: the firmware's); status: (key, '#'|'@') fields (default: the firmware's)."""
    table = published_table() if table is None else table
    status = status_fields() if status is None else status
    ref = f"/{TEMPLATE}/"
    items = []
    seen = set()
    stale_on = None
    for obis, name, kind in table:
        if name in seen:  # several OBIS codes may share a name (one quantity, two meter makes)
            continue
        seen.add(name)
        item = {"uuid": _uuid("item", name), "name": _title(name), "type": "ZABBIX_ACTIVE", "key": mqtt_key(name),
                "delay": "0", "value_type": VALUE_TYPES[kind]}
        if VALUE_TYPES[kind] != "FLOAT":
            item["trends"] = "0"
        u = unit(obis) if kind == "number" else ""
        if u:
            item["units"] = u
        item["description"] = f"OBIS {obis} as the bridge publishes it on <base topic>/{name} ({kind})."
        item["tags"] = [{"tag": "component", "value": _tag(name, kind)}]
        items.append(item)
        if stale_on is None and name == "timestamp":
            stale_on = item
    stale_on = stale_on or next(i for i in items if i["value_type"] == "FLOAT")
    stale_on["triggers"] = [_trigger(
        f"nodata({ref}{stale_on['key']},{NODATA_PERIOD})=1", f"P1 bridge: no meter values for {NODATA_PERIOD}",
        "WARNING", "The bridge publishes every telegram; none arrived. The P1 cable, the adapter or the "
                   "bridge's reader is the place to look (the status item tells which counters moved).")]

    status_item = {"uuid": _uuid("item", "status"), "name": "Bridge status (JSON)", "type": "ZABBIX_ACTIVE",
                   "key": mqtt_key("status"), "delay": "0", "history": "7d", "trends": "0", "value_type": "TEXT",
                   "description": "The bridge's retained health JSON; the bridge status items are read from it.",
                   "tags": [{"tag": "component", "value": "bridge"}]}
    online = {"uuid": _uuid("item", "online"), "name": "Bridge online", "type": "ZABBIX_ACTIVE",
              "key": mqtt_key("online"), "delay": "0", "trends": "0", "value_type": "CHAR",
              "description": "\"online\" while the bridge is connected; its last will sets \"offline\".",
              "tags": [{"tag": "component", "value": "bridge"}],
              "triggers": [_trigger(f'last({ref}{mqtt_key("online")})<>"online"', "P1 bridge is offline",
                                    "AVERAGE", "The broker delivered the bridge's last will: it lost its "
                                               "connection (power, WiFi, or the broker).")]}
    items += [status_item, online]
    for field, mark in status:
        value_type = SIGNED_STATUS.get(field, STATUS_TYPES[mark])
        dep = {"uuid": _uuid("item", "status", field), "name": f"Bridge status: {field.replace('_', ' ')}",
               "type": "DEPENDENT", "key": status_key(field), "delay": "0", "value_type": value_type}
        if value_type == "CHAR":
            dep["trends"] = "0"
        if field in STATUS_UNITS:
            dep["units"] = STATUS_UNITS[field]
        dep["preprocessing"] = [{"type": "JSONPATH", "parameters": [f"$.{field}"]}]
        dep["master_item"] = {"key": status_item["key"]}
        dep["tags"] = [{"tag": "component", "value": "bridge"}]
        if field == "crc_errors":
            dep["triggers"] = [_trigger(f"change({ref}{status_key(field)})>0",
                                        "P1 bridge: CRC errors on the P1 line are rising", "WARNING",
                                        "Telegrams arrive damaged: check the adapter, the cable and its length.")]
        if field == "liveness":
            dep["triggers"] = [_trigger(f'last({ref}{status_key(field)})<>"ok"',
                                        "P1 bridge: stalled (no telegram or no publish for liveness_s)", "WARNING",
                                        "The bridge reconnected MQTT and resets itself if nothing gets through for "
                                        "another liveness_s; the value says what stalled (bridge_firmware/README.md).")]
        items.append(dep)

    template = {
        "uuid": _uuid("template"), "template": TEMPLATE, "name": TEMPLATE,
        "description": "Every value an ESP8266 P1 bridge (p1-hil-rig's bridge_firmware) publishes to MQTT, "
                       "read by zabbix_agent2's MQTT plugin as active checks. Generated from the firmware's "
                       "tables by `hil zabbix-template`: do not edit by hand.",
        "groups": [{"name": GROUP}],
        "items": items,
        "macros": [{"macro": m, "value": v, **({"type": t} if t != "TEXT" else {}), "description": d}
                   for m, v, t, d in MACROS],
    }
    return {"zabbix_export": {"version": "6.0", "groups": [{"uuid": _uuid("group"), "name": GROUP}],
                              "templates": [template]}}


HEADER = ("# Generated by `hil zabbix-template` from bridge_firmware/obis.py and bridge.py:\n"
          "# do not edit. Import: Configuration -> Templates -> Import (integrations/zabbix/README.md).\n")


def render(tree: dict | None = None) -> str:
    """The template as the YAML file users import."""
    return HEADER + yaml.safe_dump(build() if tree is None else tree, sort_keys=False, allow_unicode=True,
                                   width=1000)


def load(path: str | Path) -> dict:
    """A template file (this one, or a user's own export); ValueError saying why it is not one."""
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not YAML: {e}") from e
    export = tree.get("zabbix_export") if isinstance(tree, dict) else None
    templates = export.get("templates") if isinstance(export, dict) else None
    if not (isinstance(templates, list) and templates and all(isinstance(t, dict) and "items" in t
                                                               for t in templates)):
        raise ValueError(f"{path}: not a Zabbix template export (zabbix_export → templates → items)")
    return tree
