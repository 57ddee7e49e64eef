#!/usr/bin/env bash
# The P1 HIL rig's suite in your bridge's own repository, as a plain shell script:
# the same steps, with the same commands, as hil.yml beside it (a GitHub Actions
# workflow; tests/host/test_ci_recipe.py compares the two). Copy it into your
# repository (e.g. ci/hil.sh) and run it from the repository's root on a Debian or
# Ubuntu machine with Python 3.11 to 3.13. docs/ci/README.md explains each step.
#
# Settings (the environment; hil.yml sets the same names in its env: block):
#   HIL_RIG          what pip installs the rig from: a wheel, a checkout, or a git URL
#                    such as git+https://HOST/OWNER/p1-hil-rig.git@v0.1.0 (required)
#   HIL_REQUIREMENTS your repository's own test requirements (numpy, pytest, ...), if
#                    any: installed in one go with the rig, so pip checks they fit
#   BRIDGE_DIR       your firmware's directory (default: src)
#   HIL_EXPECT       names your bridge publishes: contract (the 35 of the compatibility
#                    contract) or all (every name this project's bridge publishes)
#   HIL_PYTEST_ARGS  more pytest arguments, split at spaces (e.g. --bridge-lib lib
#                    --bridge-config config.template.json)
#   HIL_VENV         the rig's virtual environment (default: .hil-venv)
#   REPORT_DIR       the run's HTML and JUnit reports (default: hil-report)
#   PYTHON           the Python the venv is made with (default: python3)
#   MICROPYTHON_SRC  a MicroPython v1.28.0 tree or tarball for the virtual ESP8266;
#                    without it the build clones tag v1.28.0 (online)
# The virtual ESP8266's build is cached in ~/.cache/p1-hil/virtual-esp8266
# (HIL_BUILD_CACHE names another place), keyed by its build hash: the step
# "Build key" prints the key a CI cache keeps it under.
set -euo pipefail
: "${HIL_RIG:?set HIL_RIG to what pip installs the rig from: a wheel, a checkout or a git URL}"
: "${HIL_REQUIREMENTS:=}"
: "${BRIDGE_DIR:=src}"
: "${HIL_EXPECT:=contract}"
: "${HIL_PYTEST_ARGS:=}"
: "${HIL_VENV:=.hil-venv}"
: "${REPORT_DIR:=hil-report}"
: "${PYTHON:=python3}"

# step: Install mosquitto and the 32-bit toolchain
missing=""
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing="$missing mosquitto"
[ -e /usr/include/x86_64-linux-gnu/gnu/stubs-32.h ] || missing="$missing gcc-multilib"
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
if [ -n "$missing" ]; then $sudo apt-get update -qq && $sudo apt-get install -y -qq $missing; fi

# step: Install the rig
"$PYTHON" -m venv "$HIL_VENV"
"$HIL_VENV/bin/pip" install -q --disable-pip-version-check "$HIL_RIG" ${HIL_REQUIREMENTS:+-r "$HIL_REQUIREMENTS"}

# step: Build key
echo "key=$("$HIL_VENV/bin/hil" doctor --build-key)" >> "${GITHUB_OUTPUT:-/dev/stdout}"

# step: Build the virtual ESP8266
"$HIL_VENV/bin/python" -m hil.sim.build --link "$HIL_VENV/bin/micropython-esp8266"

# step: Check the rig can run here
"$HIL_VENV/bin/hil" doctor

# step: Run the HIL suite against this repository's bridge
"$HIL_VENV/bin/pytest" -p no:cacheprovider --rig sim --bridge-firmware "$BRIDGE_DIR" --expect "$HIL_EXPECT" --report-dir "$REPORT_DIR" $HIL_PYTEST_ARGS
