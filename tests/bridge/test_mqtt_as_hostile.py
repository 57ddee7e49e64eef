"""The mqtt_as backend against a broker that announces more than the heap holds.
mqtt_as's reader allocates whatever length a packet claims (its input buffer
grows to it); the adapter refuses a read longer than that buffer instead: the
link is dropped, the log says why, mqtt_as reconnects. Runs the real mqtt_as
(MQTT_AS_DIR, as source) on the board's interpreter against a hand-written MQTT
peer (test_mqtt_hardening.HostileBroker): no real broker sends such packets."""

import os

import pytest

from conftest import FIRMWARE, MPY_SCRIPTS
from test_mqtt import Bridge
from test_mqtt_hardening import HostileBroker


@pytest.mark.parametrize("evil, n", [
    (b"\x30\xc0\x9a\x0c\x00\x03t/x", 199995),  # a PUBLISH of 200,000 bytes: its message is 199,995
    (b"\x30\x7f\xff\xff", 65535),  # a PUBLISH whose topic claims 65,535 bytes
])
def test_a_huge_packet_drops_the_link_not_the_heap(evil, n, mqtt_as_dir):
    broker = HostileBroker(evil)
    # 128 KB: more than the bridge and mqtt_as as source need, less than the packet claims.
    bridge = Bridge(broker, heapsize="128k", backend="mqtt_as", keepalive=60,
                    path=os.pathsep.join([".frozen", str(FIRMWARE), str(mqtt_as_dir), str(MPY_SCRIPTS)]))
    try:
        assert broker.connections.acquire(timeout=20), "the bridge never connected"
        bridge.wait_line("mqtt connected to %s:%d (mqtt_as)" % (broker.host, broker.port))
        bridge.wait_line("mqtt broker sent a packet of which mqtt_as would read %d bytes at once" % n)
        bridge.wait_line("mqtt disconnected (mqtt_as reconnects)")
        assert broker.connections.acquire(timeout=20), "the bridge did not connect again"
        bridge.wait_line("mqtt connected to", count=2)
        out = bridge.output()
        assert broker.closed_by_client[0].wait(5), "the bridge dropped the link but left its socket open"
        assert "MemoryError" not in out and "application crashed" not in out and "Traceback" not in out, out
    finally:
        bridge.kill()
        broker.close()
