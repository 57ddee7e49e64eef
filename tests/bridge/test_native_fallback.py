"""Where the native (viper) reader cannot load, as on an ESP8266 without room
for native code, the bridge falls back to the portable reader and still works."""
import os
import subprocess

from conftest import CAPTURES, FIRMWARE, MPY_SCRIPTS, micropython_path


def test_bridge_falls_back_to_the_portable_reader():
    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        [str(MPY_SCRIPTS / "no_native"), ".frozen", str(FIRMWARE), str(MPY_SCRIPTS)]))
    result = subprocess.run([micropython_path(), "-X", "heapsize=256k", str(MPY_SCRIPTS / "run_fallback.py"),
                             str(CAPTURES / "sx631_aux_3ph.p1")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NATIVE False p1reader_portable" in result.stdout
    assert "COUNTERS 1 0" in result.stdout
    assert "VOLTAGE b'234.0'" in result.stdout
