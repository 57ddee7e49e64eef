# The two things a user does: watch the virtual rig work, and run the test suite.
# Both set themselves up first (scripts/bootstrap: mosquitto + .venv).

.PHONY: demo test setup clean

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/hil demo

# The HIL suite runs three times: the bridge as .mpy files on the filesystem (as the
# rig deploys it by default), then at the chip's heap frozen into the firmware image,
# then as .mpy files in the ROMFS partition (test_mqtt_as.py is frozen already).
test: setup
	.venv/bin/pytest
	.venv/bin/pytest --bridge-frozen hil/tests --ignore=hil/tests/test_mqtt_as.py
	.venv/bin/pytest --bridge-romfs hil/tests --ignore=hil/tests/test_mqtt_as.py

# The virtual ESP8266 builds are cached per user (~/.cache/p1-hil), shared by every
# checkout and installed copy: `rm -rf ~/.cache/p1-hil` drops them.
clean:
	rm -rf .venv build *.egg-info .pytest_cache
