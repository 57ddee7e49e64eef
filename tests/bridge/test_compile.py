"""Every firmware module compiles with the pinned mpy-cross (what gets uploaded), for
both architectures it runs on: xtensa (the ESP8266) and x64 (the unix port of the
virtual boards and these tests). Only modules with native (viper) code depend on
the arch; the others stay portable bytecode."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIRMWARE

MODULES = sorted(FIRMWARE.glob("*.py"))


def test_firmware_modules_exist():
    names = {p.name for p in MODULES}
    assert {"main.py", "p1reader.py", "snapshot.py", "mqtt_min.py", "obis.py", "bridge.py", "config.py"} <= names


@pytest.mark.parametrize("arch", ["xtensa", "x64"])
@pytest.mark.parametrize("src", MODULES, ids=[p.name for p in MODULES])
def test_mpy_cross_compiles(src, arch, tmp_path):
    exe = shutil.which("mpy-cross", path=os.path.dirname(sys.executable)) or shutil.which("mpy-cross")
    assert exe, "mpy-cross not found next to the venv's python; run scripts/bootstrap"
    out = tmp_path / (src.stem + ".mpy")
    r = subprocess.run([exe, "-march=%s" % arch, "-o", str(out), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0 and out.read_bytes()[:1] == b"M"
