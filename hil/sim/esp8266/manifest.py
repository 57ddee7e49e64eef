# What the virtual ESP8266 has in ROM: asyncio, as frozen in every ESP8266
# firmware, and the HAL that stands in for the chip's C modules. A bridge
# frozen into the image adds its own manifest (FROZEN_MANIFEST, see docs).
include("$(MPY_DIR)/extmod/asyncio")
for name in ("machine.py", "network.py", "socket.py", "esp.py", "_simlink.py", "_chipc.py", "_simboot.py"):
    module(name, base_path="../hal", opt=3)
