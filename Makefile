# The two things a user does: watch the virtual rig work, and run the test suite.
# Both set themselves up first (scripts/bootstrap: mosquitto + .venv).

.PHONY: demo test setup clean

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/hil demo

# The HIL suite runs twice: the bridge as .mpy files (as the rig deploys it), then
# frozen into the firmware image at the chip's heap (test_mqtt_as.py is frozen already).
test: setup
	.venv/bin/pytest
	.venv/bin/pytest --bridge-frozen hil/tests --ignore=hil/tests/test_mqtt_as.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache
