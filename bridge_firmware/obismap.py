"""OBIS lookup data for the firmware, GENERATED from obis.TABLE by
tests/bridge/mpy/gen_obismap.py: do not edit (test_obis_table.py checks it).

obis.py is the one place where names are defined and documented. This copy
holds the same data as four bytes constants, because a loaded .mpy module keeps
every object it defines: TABLE's tuples and strings cost ~5 KB of the ESP8266's
heap, a tuple of 44 names and a dict ~3.7 KB, these ~1.4 KB (and nothing when
frozen: the bytes stay in flash).

  NAMES  the topic names in slot order, each ended by a newline
  KIND   KIND[slot]: the slot's kind (K_*)
  KEYS   the packed codes (obis.key()) of every mapped OBIS line, ascending,
         as 32-bit little-endian ints: array('i', KEYS) reads them
  KSLOT  KSLOT[i]: the slot of the i-th key"""

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
    b'power_limiter_limit\n'
    b'positive_energy_total\n'
    b'positive_energy_tariff_1\n'
    b'positive_energy_tariff_2\n'
    b'positive_energy_tariff_3\n'
    b'positive_energy_tariff_4\n'
    b'negative_energy_total\n'
    b'negative_energy_tariff_1\n'
    b'negative_energy_tariff_2\n'
    b'negative_energy_tariff_3\n'
    b'negative_energy_tariff_4\n'
    b'positive_reactive_energy_total\n'
    b'negative_reactive_energy_total\n'
    b'reactive_energy_total_Q1\n'
    b'reactive_energy_total_Q2\n'
    b'reactive_energy_total_Q3\n'
    b'reactive_energy_total_Q4\n'
    b'absolute_active_energy_total\n'
    b'instantaneous_voltage_in_phase_L1\n'
    b'instantaneous_voltage_in_phase_L2\n'
    b'instantaneous_voltage_in_phase_L3\n'
    b'instantaneous_current_in_phase_L1\n'
    b'instantaneous_current_in_phase_L2\n'
    b'instantaneous_current_in_phase_L3\n'
    b'instantaneous_power_factor\n'
    b'instantaneous_power_factor_in_phase_L1\n'
    b'instantaneous_power_factor_in_phase_L2\n'
    b'instantaneous_power_factor_in_phase_L3\n'
    b'frequency\n'
    b'positive_active_instantaneous_power\n'
    b'negative_active_instantaneous_power\n'
    b'reactive_power_instantaneous_Q1\n'
    b'reactive_power_instantaneous_Q2\n'
    b'reactive_power_instantaneous_Q3\n'
    b'reactive_power_instantaneous_Q4\n'
    b'timestamp\n'
    b'logical_device_name\n'
    b'equipment_identifier\n'
    b'tariff_indicator\n'
    b'breaker_state\n'
    b'current_limit_in_phase_L1\n'
    b'current_limit_in_phase_L2\n'
    b'current_limit_in_phase_L3\n'
    b'billing_profile\n'
)
KIND = b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x00\x02\x00\x00\x00\x03'
KEYS = b'\x00\x00\x01\x00\x00\x00\x11\x00\x00\x00*\x00\x00\x01`\x00\n\x03`\x00\x00\x0e`\x00D2`\x00\x00\x01b\x00\x00\x07\x01\x04\x00\x08\x01\x04\x01\x08\x01\x04\x02\x08\x01\x04\x03\x08\x01\x04\x04\x08\x01\x04\x00\x07\x02\x04\x00\x08\x02\x04\x01\x08\x02\x04\x02\x08\x02\x04\x03\x08\x02\x04\x04\x08\x02\x04\x00\x08\x03\x04\x00\x08\x04\x04\x00\x07\x05\x04\x00\x08\x05\x04\x00\x07\x06\x04\x00\x08\x06\x04\x00\x07\x07\x04\x00\x08\x07\x04\x00\x07\x08\x04\x00\x08\x08\x04\x00\x07\r\x04\x00\x07\x0e\x04\x00\x08\x0f\x04\x00\x04\x1f\x04\x00\x07\x1f\x04\x00\x07 \x04\x00\x07!\x04\x00\x043\x04\x00\x073\x04\x00\x074\x04\x00\x075\x04\x00\x04G\x04\x00\x07G\x04\x00\x07H\x04\x00\x07I\x04'
KSLOT = b'#\x00$%\'&\'+\x1d\x01\x02\x03\x04\x05\x1e\x06\x07\x08\t\n\x0b\x0c\x1f\r \x0e!\x0f"\x10\x18\x1c\x11(\x15\x12\x19)\x16\x13\x1a*\x17\x14\x1b'
COUNT = const(44)
