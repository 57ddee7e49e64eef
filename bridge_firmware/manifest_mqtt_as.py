# Freezes the bridge together with Peter Hinch's mqtt_as into a MicroPython firmware
# image, for "mqtt": {"backend": "mqtt_as"} (README.md, "mqtt_as, so that it fits").
# mqtt_as does not fit the ESP8266's heap as source or .mpy; frozen, its bytecode
# stays in flash like the bridge's.
#
#   ESP8266:  make -C ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST=$PWD/manifest_mqtt_as.py \
#                  MICROPY_MANIFEST_MQTT_AS_DIR=/dir/with/mqtt_as.py
#   the rig's virtual ESP8266:  MQTT_AS_DIR=/dir/with/mqtt_as.py pytest hil/tests/test_mqtt_as.py
#
# $(MQTT_AS_DIR) is the directory holding mqtt_as.py (mqtt_as 0.8.3: the file
# mqtt_as/__init__.py of github.com/peterhinch/micropython-mqtt, saved as mqtt_as.py).
# MicroPython's build turns every MICROPY_MANIFEST_<NAME> make variable into $(<NAME>).
include("manifest.py")  # the bridge, whatever modules it lists
module("mqtt_as.py", base_path="$(MQTT_AS_DIR)")
