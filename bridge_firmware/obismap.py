"""OBIS lookup structures for the firmware, GENERATED from obis.TABLE by
tests/bridge/mpy/gen_obismap.py: do not edit (test_obis_table.py checks it).

obis.py is the one place where names are defined and documented; this copy
exists because a loaded .mpy module keeps all its constants, and TABLE's cost
~5 KB of the ESP8266 heap. NAMES[slot], SLOT[packed A-B:C.D.E] -> slot, KIND[slot]."""

from micropython import const

K_NUMBER = const(0)
K_TEXT = const(1)
K_BREAKER = const(2)
K_PROFILE = const(3)
NUMBER_MAX = const(16)
TEXT_MAX = const(48)
BREAKER_MAX = const(8)
PROFILE_MAX = const(256)
WIDTHS = (16, 48, 8, 256)
NAMES = (
    b'power_limiter_limit',
    b'positive_energy_total',
    b'positive_energy_tariff_1',
    b'positive_energy_tariff_2',
    b'positive_energy_tariff_3',
    b'positive_energy_tariff_4',
    b'negative_energy_total',
    b'negative_energy_tariff_1',
    b'negative_energy_tariff_2',
    b'negative_energy_tariff_3',
    b'negative_energy_tariff_4',
    b'positive_reactive_energy_total',
    b'negative_reactive_energy_total',
    b'reactive_energy_total_Q1',
    b'reactive_energy_total_Q2',
    b'reactive_energy_total_Q3',
    b'reactive_energy_total_Q4',
    b'absolute_active_energy_total',
    b'instantaneous_voltage_in_phase_L1',
    b'instantaneous_voltage_in_phase_L2',
    b'instantaneous_voltage_in_phase_L3',
    b'instantaneous_current_in_phase_L1',
    b'instantaneous_current_in_phase_L2',
    b'instantaneous_current_in_phase_L3',
    b'instantaneous_power_factor',
    b'instantaneous_power_factor_in_phase_L1',
    b'instantaneous_power_factor_in_phase_L2',
    b'instantaneous_power_factor_in_phase_L3',
    b'frequency',
    b'positive_active_instantaneous_power',
    b'negative_active_instantaneous_power',
    b'reactive_power_instantaneous_Q1',
    b'reactive_power_instantaneous_Q2',
    b'reactive_power_instantaneous_Q3',
    b'reactive_power_instantaneous_Q4',
    b'timestamp',
    b'logical_device_name',
    b'equipment_identifier',
    b'tariff_indicator',
    b'breaker_state',
    b'current_limit_in_phase_L1',
    b'current_limit_in_phase_L2',
    b'current_limit_in_phase_L3',
    b'billing_profile',
)
KIND = b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x00\x02\x00\x00\x00\x03'
SLOT = {
    0x0010000: 35,
    0x0110000: 0,
    0x02A0000: 36,
    0x0600100: 37,
    0x060030A: 39,
    0x0600E00: 38,
    0x0603244: 39,
    0x0620100: 43,
    0x4010700: 29,
    0x4010800: 1,
    0x4010801: 2,
    0x4010802: 3,
    0x4010803: 4,
    0x4010804: 5,
    0x4020700: 30,
    0x4020800: 6,
    0x4020801: 7,
    0x4020802: 8,
    0x4020803: 9,
    0x4020804: 10,
    0x4030800: 11,
    0x4040800: 12,
    0x4050700: 31,
    0x4050800: 13,
    0x4060700: 32,
    0x4060800: 14,
    0x4070700: 33,
    0x4070800: 15,
    0x4080700: 34,
    0x4080800: 16,
    0x40D0700: 24,
    0x40E0700: 28,
    0x40F0800: 17,
    0x41F0400: 40,
    0x41F0700: 21,
    0x4200700: 18,
    0x4210700: 25,
    0x4330400: 41,
    0x4330700: 22,
    0x4340700: 19,
    0x4350700: 26,
    0x4470400: 42,
    0x4470700: 23,
    0x4480700: 20,
    0x4490700: 27,
}
COUNT = const(44)
