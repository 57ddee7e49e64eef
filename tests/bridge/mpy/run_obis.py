# Print the firmware's derived lookup structures (obis.NAMES, SLOT, KIND) as JSON.
import json
import obis

print(json.dumps({"names": [n.decode() for n in obis.NAMES], "kind": list(obis.KIND),
                  "slot": {str(k): v for k, v in obis.SLOT.items()}, "count": obis.COUNT,
                  "kinds": list(obis.KINDS), "widths": list(obis.WIDTHS)}))
