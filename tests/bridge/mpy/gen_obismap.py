# Print bridge_firmware/obismap.py, generated from obis.TABLE (run on MicroPython
# so the derivation is the firmware's own). Regenerate after editing TABLE:
#   MICROPYPATH=.frozen:bridge_firmware .venv/bin/micropython tests/bridge/mpy/gen_obismap.py > bridge_firmware/obismap.py
import obis

out = []
w = out.append
w('"""OBIS lookup structures for the firmware, GENERATED from obis.TABLE by')
w("tests/bridge/mpy/gen_obismap.py: do not edit (test_obis_table.py checks it).")
w("")
w("obis.py is the one place where names are defined and documented; this copy")
w("exists because a loaded .mpy module keeps all its constants, and TABLE's cost")
w('~5 KB of the ESP8266 heap. NAMES[slot], SLOT[packed A-B:C.D.E] -> slot, KIND[slot]."""')
w("")
w("from micropython import const")
w("")
for n in ("K_NUMBER", "K_TEXT", "K_BREAKER", "K_PROFILE", "NUMBER_MAX", "TEXT_MAX", "BREAKER_MAX", "PROFILE_MAX"):
    w("%s = const(%d)" % (n, getattr(obis, n)))
w("WIDTHS = (%s)" % ", ".join(str(x) for x in obis.WIDTHS))
w("NAMES = (")
for n in obis.NAMES:
    w("    %r," % n)
w(")")
w("KIND = %r" % obis.KIND)
w("SLOT = {")
for k in sorted(obis.SLOT):
    w("    0x%07X: %d," % (k, obis.SLOT[k]))
w("}")
w("COUNT = const(%d)" % obis.COUNT)
print("\n".join(out))
