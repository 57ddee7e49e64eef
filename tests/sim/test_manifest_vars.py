"""A frozen image's manifest may take a library from a directory named by a path
variable, as bridge_firmware/manifest_mqtt_as.py takes mqtt_as.py from
$(MQTT_AS_DIR): hil/sim/build.py gets it from MICROPY_MANIFEST_<NAME>,
as MicroPython's own build does, says how to set it when it is missing, and keys
its image cache on the files there, so a changed library is never run from a
stale image."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hil.shipped import BRIDGE_FIRMWARE
from hil.sim import build


def test_the_image_cache_key_covers_the_files_a_manifest_variable_names(tmp_path, monkeypatch):
    firmware, lib, other = (tmp_path / d for d in ("firmware", "lib", "other"))
    for d in (firmware, lib, other):
        d.mkdir()
    manifest = firmware / "manifest.py"
    manifest.write_text('module("thing.py", base_path="$(THING_DIR)")\n')
    (lib / "thing.py").write_text("X = 1\n")
    (other / "thing.py").write_text("X = 1\n")
    monkeypatch.setenv("MICROPY_MANIFEST_THING_DIR", str(lib))
    first = build.variant_hash(manifest)
    assert build.variant_hash(manifest) == first, "the key must be stable for unchanged files"
    (lib / "thing.py").write_text("X = 2\n")
    assert build.variant_hash(manifest) != first, "a changed library must give a new image"
    changed = build.variant_hash(manifest)
    monkeypatch.setenv("MICROPY_MANIFEST_THING_DIR", str(other))
    assert build.variant_hash(manifest) not in (first, changed), "another library directory must give a new image"


def test_a_missing_manifest_variable_stops_the_build_and_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MICROPY_MANIFEST_MQTT_AS_DIR"}
    r = subprocess.run([sys.executable, "-m", "hil.sim.build", "--freeze", str(BRIDGE_FIRMWARE / "manifest_mqtt_as.py")],
                       capture_output=True, text=True, env=env, timeout=120)
    out = r.stdout + r.stderr
    if "no MicroPython source" in out:
        pytest.skip("no MicroPython source on this machine: the build stops before it reads the manifest")
    assert r.returncode == 1 and "set MICROPY_MANIFEST_MQTT_AS_DIR to that directory" in out, out
