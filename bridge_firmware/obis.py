"""OBIS code -> MQTT name table: the bridge's compatibility contract.

Each mapped OBIS code gets one slot (its index in NAMES). The reader never keeps
the OBIS text: it packs the five numbers A-B:C.D.E into one small int while the
bytes stream past, so a lookup is one dict probe and allocates nothing.
"""

from micropython import const

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


# Names are the published topic suffixes; never rename one (Zabbix and the
# dashboard subscribe to them). Order = slot number = publish order.
_TABLE = (
    ((0, 0, 17, 0, 0), b"power_limiter_limit"),
    ((1, 0, 1, 8, 0), b"positive_energy_total"),
    ((1, 0, 1, 8, 1), b"positive_energy_tariff_1"),
    ((1, 0, 1, 8, 2), b"positive_energy_tariff_2"),
    ((1, 0, 1, 8, 3), b"positive_energy_tariff_3"),
    ((1, 0, 1, 8, 4), b"positive_energy_tariff_4"),
    ((1, 0, 2, 8, 0), b"negative_energy_total"),
    ((1, 0, 2, 8, 1), b"negative_energy_tariff_1"),
    ((1, 0, 2, 8, 2), b"negative_energy_tariff_2"),
    ((1, 0, 2, 8, 3), b"negative_energy_tariff_3"),
    ((1, 0, 2, 8, 4), b"negative_energy_tariff_4"),
    ((1, 0, 3, 8, 0), b"positive_reactive_energy_total"),
    ((1, 0, 4, 8, 0), b"negative_reactive_energy_total"),
    ((1, 0, 5, 8, 0), b"reactive_energy_total_Q1"),
    ((1, 0, 6, 8, 0), b"reactive_energy_total_Q2"),
    ((1, 0, 7, 8, 0), b"reactive_energy_total_Q3"),
    ((1, 0, 8, 8, 0), b"reactive_energy_total_Q4"),
    ((1, 0, 15, 8, 0), b"absolute_active_energy_total"),
    ((1, 0, 32, 7, 0), b"instantaneous_voltage_in_phase_L1"),
    ((1, 0, 52, 7, 0), b"instantaneous_voltage_in_phase_L2"),
    ((1, 0, 72, 7, 0), b"instantaneous_voltage_in_phase_L3"),
    ((1, 0, 31, 7, 0), b"instantaneous_current_in_phase_L1"),
    ((1, 0, 51, 7, 0), b"instantaneous_current_in_phase_L2"),
    ((1, 0, 71, 7, 0), b"instantaneous_current_in_phase_L3"),
    ((1, 0, 13, 7, 0), b"instantaneous_power_factor"),
    ((1, 0, 33, 7, 0), b"instantaneous_power_factor_in_phase_L1"),
    ((1, 0, 53, 7, 0), b"instantaneous_power_factor_in_phase_L2"),
    ((1, 0, 73, 7, 0), b"instantaneous_power_factor_in_phase_L3"),
    ((1, 0, 14, 7, 0), b"frequency"),
    ((1, 0, 1, 7, 0), b"positive_active_instantaneous_power"),
    ((1, 0, 2, 7, 0), b"negative_active_instantaneous_power"),
    ((1, 0, 5, 7, 0), b"reactive_power_instantaneous_Q1"),
    ((1, 0, 6, 7, 0), b"reactive_power_instantaneous_Q2"),
    ((1, 0, 7, 7, 0), b"reactive_power_instantaneous_Q3"),
    ((1, 0, 8, 7, 0), b"reactive_power_instantaneous_Q4"),
)

NAMES = tuple(n for _, n in _TABLE)
SLOT = {key(*c): i for i, (c, _) in enumerate(_TABLE)}
COUNT = len(NAMES)
