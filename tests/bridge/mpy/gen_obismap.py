# Print bridge_firmware/obismap.py, generated from obis.TABLE (run on MicroPython
# so the derivation is the firmware's own). Regenerate after editing TABLE:
#   MICROPYPATH=.frozen:bridge_firmware .venv/bin/micropython tests/bridge/mpy/gen_obismap.py > bridge_firmware/obismap.py
import obis

out = []
w = out.append
w('"""OBIS lookup data for the firmware, GENERATED from obis.TABLE by')
w("tests/bridge/mpy/gen_obismap.py: do not edit (test_obis_table.py checks it).")
w("")
w("obis.py is the one place where names are defined and documented. This copy")
w("holds the same data as four bytes constants, because a loaded .mpy module keeps")
w("every object it defines: TABLE's tuples and strings cost ~5 KB of the ESP8266's")
w("heap, a tuple of 44 names and a dict ~3.7 KB, these ~1.4 KB (and nothing when")
w("frozen: the bytes stay in flash).")
w("")
w("  NAMES  the topic names in slot order, each ended by a newline")
w("  KIND   KIND[slot]: the slot's kind (K_*)")
w("  KEYS   the packed codes (obis.key()) of every mapped OBIS line, ascending,")
w("         as 32-bit little-endian ints: array('i', KEYS) reads them")
w('  KSLOT  KSLOT[i]: the slot of the i-th key"""')
w("")
w("from micropython import const")
w("")
for n in ("K_NUMBER", "K_TEXT", "K_BREAKER", "K_PROFILE", "NUMBER_MAX", "TEXT_MAX", "BREAKER_MAX", "PROFILE_MAX"):
    w("%s = const(%d)" % (n, getattr(obis, n)))
w("WIDTHS = (%s)" % ", ".join(str(x) for x in obis.WIDTHS))
w("NAMES = (")
for n in obis.NAMES:
    w("    %r" % (n + b"\n"))
w(")")
w("KIND = %r" % obis.KIND)
keys = sorted(obis.SLOT)
w("KEYS = %r" % b"".join(k.to_bytes(4, "little") for k in keys))
w("KSLOT = %r" % bytes(obis.SLOT[k] for k in keys))
w("COUNT = const(%d)" % obis.COUNT)
print("\n".join(out))
