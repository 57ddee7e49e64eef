# Import the bridge where the native reader cannot load; replay a capture
# through the reader and snapshot it falls back to; print what was committed.
import sys

import bridge

print("NATIVE", bridge.NATIVE, bridge.p1reader.__name__)
snap = bridge.Snapshot()
reader = bridge.p1reader.P1Reader(snap)
with open(sys.argv[1], "rb") as f:
    data = f.read()
for i in range(0, len(data), 128):
    reader.feed(data[i:i + 128])
print("COUNTERS", reader.counters()["telegrams_ok"], reader.counters()["crc_errors"])
print("VOLTAGE", snap.value(bridge.obis.NAMES.split(b"\n").index(b"instantaneous_voltage_in_phase_L1")))
