# The two things a user does: watch the virtual rig work, and run the test suite.
# Both set themselves up first (scripts/bootstrap: mosquitto + .venv). .venv gets the
# Python requirements.lock was tested with (3.11) where there is one, else the newest of
# 3.13 and 3.12; `PYTHON=/path/to/python3.X make test` takes another (scripts/pick-python).

.PHONY: demo test setup clean

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/hil demo

# Everything with the bridge as .mpy files in the ROMFS partition (the default
# --bridge-deploy romfs), then the HIL suite once more with the bridge frozen into
# the firmware image: both ways a user deploys it at the chip's heap, each held to its
# own heap floor. test_mqtt_as.py is frozen already; the .mpy-on-the-filesystem way
# (--bridge-deploy mpy) does not fit the chip and has its own test in the first pass
# (tests/sim/test_bridge_mpy_on_chip_heap.py).
test: setup
	.venv/bin/pytest
	.venv/bin/pytest --bridge-deploy frozen hil/tests --ignore=hil/tests/test_mqtt_as.py

# The virtual ESP8266 builds are cached per user (~/.cache/p1-hil), shared by every
# checkout and installed copy: `rm -rf ~/.cache/p1-hil` drops them.
clean:
	rm -rf .venv build *.egg-info .pytest_cache
