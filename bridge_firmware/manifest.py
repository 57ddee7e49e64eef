# Freezes the bridge into a MicroPython firmware image, so its bytecode sits in
# flash instead of the ESP8266's 38 KB heap (see README.md, "Frozen firmware").
#
#   ESP8266:  make -C ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST=$PWD/manifest.py
#   the rig's virtual ESP8266:  pytest --bridge-deploy frozen  (builds the same image)
#
# $(BOARD_DIR)/manifest.py is the board's own list (on ESP8266_GENERIC: asyncio,
# the port's modules, micropython-lib's networking bundle): the image keeps it.
# main.py and config.json stay on the board's filesystem. To freeze mqtt_as too,
# build with manifest_mqtt_as.py instead (it includes this one).
include("$(BOARD_DIR)/manifest.py")
for name in ("bridge_main.py", "startup.py", "bridge.py", "config.py", "obismap.py", "p1reader.py", "p1reader_portable.py",
             "snapshot.py", "snapshot_portable.py", "mqtt_backend.py", "mqtt_min.py", "dnsq.py", "mqtt_as_adapter.py", "replidle.py"):
    module(name)
