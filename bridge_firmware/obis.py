"""OBIS code -> MQTT topic table: the ONE place where published names are defined.

TABLE is a literal (the host reads it with ast.literal_eval, see README.md):
one row per OBIS code, (OBIS text, topic name, kind). Several codes may share a
topic name when they carry the same quantity on different meter makes (they must
then share the kind). Names are the MQTT contract: choose once, never rename.

Kinds (what the published payload is; units are always dropped):
  number   the first value as normalised decimal text: "000812.421*kWh" -> "812.421"
  text     the first value exactly as sent (printable ASCII, at most TEXT_MAX bytes)
  breaker  ON / OFF / READY: "ON" and "OFF" as sent, "1" -> ON, "0" -> OFF, "2" -> READY
  profile  a multi-value line as compact JSON:
           {"timestamp":"<first value>","values":[<number>,<number>,...]}

Everything else is derived from TABLE (here at import, and as obismap.py for the
firmware, see the end of this file): the reader never keeps OBIS text but packs
A-B:C.D.E into one small int while bytes stream past, so a lookup is one dict
probe and allocates nothing.
"""

from micropython import const

TABLE = (
    # -- the seed system's names (compatibility contract, docs/ARCHITECTURE.md section 7)
    ("0-0:17.0.0", "power_limiter_limit", "number"),
    ("1-0:1.8.0", "positive_energy_total", "number"),
    ("1-0:1.8.1", "positive_energy_tariff_1", "number"),
    ("1-0:1.8.2", "positive_energy_tariff_2", "number"),
    ("1-0:1.8.3", "positive_energy_tariff_3", "number"),
    ("1-0:1.8.4", "positive_energy_tariff_4", "number"),
    ("1-0:2.8.0", "negative_energy_total", "number"),
    ("1-0:2.8.1", "negative_energy_tariff_1", "number"),
    ("1-0:2.8.2", "negative_energy_tariff_2", "number"),
    ("1-0:2.8.3", "negative_energy_tariff_3", "number"),
    ("1-0:2.8.4", "negative_energy_tariff_4", "number"),
    ("1-0:3.8.0", "positive_reactive_energy_total", "number"),
    ("1-0:4.8.0", "negative_reactive_energy_total", "number"),
    ("1-0:5.8.0", "reactive_energy_total_Q1", "number"),
    ("1-0:6.8.0", "reactive_energy_total_Q2", "number"),
    ("1-0:7.8.0", "reactive_energy_total_Q3", "number"),
    ("1-0:8.8.0", "reactive_energy_total_Q4", "number"),
    ("1-0:15.8.0", "absolute_active_energy_total", "number"),
    ("1-0:32.7.0", "instantaneous_voltage_in_phase_L1", "number"),
    ("1-0:52.7.0", "instantaneous_voltage_in_phase_L2", "number"),
    ("1-0:72.7.0", "instantaneous_voltage_in_phase_L3", "number"),
    ("1-0:31.7.0", "instantaneous_current_in_phase_L1", "number"),
    ("1-0:51.7.0", "instantaneous_current_in_phase_L2", "number"),
    ("1-0:71.7.0", "instantaneous_current_in_phase_L3", "number"),
    ("1-0:13.7.0", "instantaneous_power_factor", "number"),
    ("1-0:33.7.0", "instantaneous_power_factor_in_phase_L1", "number"),
    ("1-0:53.7.0", "instantaneous_power_factor_in_phase_L2", "number"),
    ("1-0:73.7.0", "instantaneous_power_factor_in_phase_L3", "number"),
    ("1-0:14.7.0", "frequency", "number"),
    ("1-0:1.7.0", "positive_active_instantaneous_power", "number"),
    ("1-0:2.7.0", "negative_active_instantaneous_power", "number"),
    ("1-0:5.7.0", "reactive_power_instantaneous_Q1", "number"),
    ("1-0:6.7.0", "reactive_power_instantaneous_Q2", "number"),
    ("1-0:7.7.0", "reactive_power_instantaneous_Q3", "number"),
    ("1-0:8.7.0", "reactive_power_instantaneous_Q4", "number"),
    # -- fields the seed ignored: names chosen in bridge 0.2.0, frozen from then on
    ("0-0:1.0.0", "timestamp", "text"),
    ("0-0:42.0.0", "logical_device_name", "text"),
    ("0-0:96.1.0", "equipment_identifier", "text"),
    ("0-0:96.14.0", "tariff_indicator", "number"),
    ("0-0:96.50.68", "breaker_state", "breaker"),
    ("0-0:96.3.10", "breaker_state", "breaker"),
    ("1-0:31.4.0", "current_limit_in_phase_L1", "number"),
    ("1-0:51.4.0", "current_limit_in_phase_L2", "number"),
    ("1-0:71.4.0", "current_limit_in_phase_L3", "number"),
    ("0-0:98.1.0", "billing_profile", "profile"),
    # 0-0:96.13.0 (consumer message; the SX631 sends 1024 bytes of 0xFF) is
    # deliberately absent: never published, never decoded.
)

KINDS = ("number", "text", "breaker", "profile")
K_NUMBER = const(0)
K_TEXT = const(1)
K_BREAKER = const(2)
K_PROFILE = const(3)

NUMBER_MAX = const(16)  # "-000000000.000" (14) fits; every slot is kept twice (snapshot.py)
TEXT_MAX = const(48)  # equipment ids of the E.ON HU profile are 32 hex digits
BREAKER_MAX = const(8)  # "READY"
PROFILE_MAX = const(256)  # JSON of 1 timestamp + 19 values: ~190 bytes, <= 250 for 19 x "999999.999"
WIDTHS = (NUMBER_MAX, TEXT_MAX, BREAKER_MAX, PROFILE_MAX)  # value buffer per kind

# Packing: E, D, C take 8 bits each, B and A 2 bits each. Every code in the table
# fits; a field outside its range makes the code unmappable (see key()).
FIELD_MAX = const(255)
AB_MAX = const(3)
NO_KEY = const(-1)


def key(a, b, c, d, e):
    """Pack A-B:C.D.E into a small int (< 2**28, a small int on every port)."""
    if a > AB_MAX or b > AB_MAX or c > FIELD_MAX or d > FIELD_MAX or e > FIELD_MAX:
        return NO_KEY
    return (((((a << 2) | b) << 8 | c) << 8) | d) << 8 | e


def parse(code):
    """Packed key of an OBIS text "A-B:C.D.E" (import time and tests only)."""
    a, rest = code.split("-")
    b, rest = rest.split(":")
    c, d, e = rest.split(".")
    return key(int(a), int(b), int(c), int(d), int(e))


def _derive(table):
    names = []
    kinds = bytearray()
    slots = {}
    for code, name, kind in table:
        k = KINDS.index(kind)
        n = name.encode()
        if n in names:
            i = names.index(n)
            if kinds[i] != k:
                raise ValueError("obis: %s has two kinds" % name)
        else:
            i = len(names)
            names.append(n)
            kinds.append(k)
        c = parse(code)
        if c == NO_KEY or c in slots:
            raise ValueError("obis: bad or repeated code " + code)
        slots[c] = i
    return tuple(names), slots, bytes(kinds)


# NAMES[slot] topic name (bytes); SLOT[packed code] -> slot; KIND[slot] -> K_*.
# Slot order = TABLE order of first appearance = publish order.
NAMES, SLOT, KIND = _derive(TABLE)
COUNT = len(NAMES)
del _derive

# RAM: a precompiled module keeps every constant it holds (TABLE's 46 tuples and
# ~100 strings: ~5 KB on the ESP8266, 11 KB on a 64-bit port) for as long as the
# module is loaded. So the firmware does not import this module at run time: it
# imports obismap.py, the same data as four bytes constants generated from TABLE
# by tests/bridge/mpy/gen_obismap.py (test_obis_table.py fails when they disagree).
