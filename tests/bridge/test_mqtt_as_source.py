"""mqtt_as installed as its README says (mip: source files) does not fit the
board's heap: the bridge must say so once and carry on with its built-in client,
never crash into an application-restart loop. Runs against the real mqtt_as
from MQTT_AS_DIR (CI: ../shared/mqtt_as)."""

import os
from pathlib import Path

import pytest

from conftest import MPY_HARNESS_FREE, MPY_SCRIPTS
from test_mqtt import SX, Bridge, Subscriber, collect_latest
from test_ram import compile_all
from test_reader import expected

MQTT_AS_DIR = os.environ.get("MQTT_AS_DIR")


@pytest.mark.skipif(not MQTT_AS_DIR or not (Path(MQTT_AS_DIR) / "mqtt_as.py").is_file(),
                    reason="MQTT_AS_DIR is not set to a directory with mqtt_as.py (the real library)")
def test_mqtt_as_as_source_is_reported_once_and_the_builtin_client_takes_over(tmp_path, broker):
    compile_all(tmp_path)  # the bridge as the rig deploys it; mqtt_as.py as source, as mip installs it
    sub = Subscriber(broker)
    bridge = Bridge(broker, heapsize=str(MPY_HARNESS_FREE + 850), backend="auto",
                    path=os.pathsep.join([".frozen", str(tmp_path), MQTT_AS_DIR, str(MPY_SCRIPTS)]))
    try:
        bridge.wait_line("mqtt connected", timeout=30)
        bridge.uart.sendall(SX)
        want = expected(SX)
        assert collect_latest(sub, bridge, want) == want
        out = bridge.output()
        said = [l for l in bridge.lines if "mqtt_as could not be loaded" in l]
        assert len(said) == 1 and "MemoryError" in said[0] and "built-in MQTT client" in said[0], out
        assert "application crashed" not in out, out
    finally:
        bridge.kill()
        sub.close()
