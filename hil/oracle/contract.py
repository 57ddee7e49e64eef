"""The MQTT compatibility contract: OBIS code -> topic name.

The seed bridge published one topic per OBIS code, ``<baseTopic>/<name>``, with
the numeric value as text as payload. A Zabbix template and an Android dashboard
consume these names, so they are frozen: never rename, never remove. New fields
get new names in the firmware's table (bridge_firmware/obis.py, the one place
they are defined), which published_table() reads; a test checks that it keeps
every name here unchanged.

Written out explicitly (no generation) so a diff shows every change.
"""

import ast
import functools
from pathlib import Path
from types import MappingProxyType

from ..shipped import BRIDGE_FIRMWARE

TOPICS = MappingProxyType({
    "0-0:17.0.0": "power_limiter_limit",
    "1-0:1.8.0": "positive_energy_total",
    "1-0:1.8.1": "positive_energy_tariff_1",
    "1-0:1.8.2": "positive_energy_tariff_2",
    "1-0:1.8.3": "positive_energy_tariff_3",
    "1-0:1.8.4": "positive_energy_tariff_4",
    "1-0:2.8.0": "negative_energy_total",
    "1-0:2.8.1": "negative_energy_tariff_1",
    "1-0:2.8.2": "negative_energy_tariff_2",
    "1-0:2.8.3": "negative_energy_tariff_3",
    "1-0:2.8.4": "negative_energy_tariff_4",
    "1-0:3.8.0": "positive_reactive_energy_total",
    "1-0:4.8.0": "negative_reactive_energy_total",
    "1-0:5.8.0": "reactive_energy_total_Q1",
    "1-0:6.8.0": "reactive_energy_total_Q2",
    "1-0:7.8.0": "reactive_energy_total_Q3",
    "1-0:8.8.0": "reactive_energy_total_Q4",
    "1-0:15.8.0": "absolute_active_energy_total",
    "1-0:32.7.0": "instantaneous_voltage_in_phase_L1",
    "1-0:52.7.0": "instantaneous_voltage_in_phase_L2",
    "1-0:72.7.0": "instantaneous_voltage_in_phase_L3",
    "1-0:31.7.0": "instantaneous_current_in_phase_L1",
    "1-0:51.7.0": "instantaneous_current_in_phase_L2",
    "1-0:71.7.0": "instantaneous_current_in_phase_L3",
    "1-0:13.7.0": "instantaneous_power_factor",
    "1-0:33.7.0": "instantaneous_power_factor_in_phase_L1",
    "1-0:53.7.0": "instantaneous_power_factor_in_phase_L2",
    "1-0:73.7.0": "instantaneous_power_factor_in_phase_L3",
    "1-0:14.7.0": "frequency",
    "1-0:1.7.0": "positive_active_instantaneous_power",
    "1-0:2.7.0": "negative_active_instantaneous_power",
    "1-0:5.7.0": "reactive_power_instantaneous_Q1",
    "1-0:6.7.0": "reactive_power_instantaneous_Q2",
    "1-0:7.7.0": "reactive_power_instantaneous_Q3",
    "1-0:8.7.0": "reactive_power_instantaneous_Q4",
})
"""OBIS code (``A-B:C.D.E``) -> topic name under the bridge's base topic."""

OBIS_BY_TOPIC = MappingProxyType({name: obis for obis, name in TOPICS.items()})
"""Topic name -> OBIS code (the inverse of :data:`TOPICS`)."""


FIRMWARE_TABLE = BRIDGE_FIRMWARE / "obis.py"


@functools.cache
def published_table(path: Path = FIRMWARE_TABLE) -> tuple[tuple[str, str, str], ...]:
    """Every (OBIS code, topic name, kind) the bridge publishes, read from the
    one table that defines them (bridge_firmware/obis.py's TABLE literal) with
    ast: the host never imports firmware code."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TABLE" for t in node.targets):
            return tuple(tuple(row) for row in ast.literal_eval(node.value))
    raise LookupError(f"no literal TABLE in {path}")
