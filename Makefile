# The two things a user does: watch the virtual rig work, and run the test suite.
# Both set themselves up first (scripts/bootstrap: mosquitto + .venv).

.PHONY: demo test setup clean

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/hil demo

test: setup
	.venv/bin/pytest

clean:
	rm -rf .venv build *.egg-info .pytest_cache
