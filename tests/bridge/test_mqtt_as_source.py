"""mqtt_as installed as its README says (mip: source files) does not fit the
board's heap: the bridge must say so once and carry on with its built-in client,
never crash into an application-restart loop. Runs against the real mqtt_as
from MQTT_AS_DIR (CI: ../shared/mqtt_as; the mqtt_as_dir fixture skips
without it, or fails where the run must have it: hil.mqtt_as_source)."""

import os


from conftest import MPY_HARNESS_FREE, MPY_SCRIPTS
from test_mqtt import SX, Bridge, Subscriber, collect_latest
from test_ram import compile_all
from test_reader import expected


def test_mqtt_as_as_source_is_reported_once_and_the_builtin_client_takes_over(tmp_path, broker, mqtt_as_dir):
    compile_all(tmp_path)  # the bridge as the rig deploys it; mqtt_as.py as source, as mip installs it
    sub = Subscriber(broker)
    bridge = Bridge(broker, heapsize=str(MPY_HARNESS_FREE + 850), backend="auto",
                    path=os.pathsep.join([".frozen", str(tmp_path), str(mqtt_as_dir), str(MPY_SCRIPTS)]))
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
