"""The built-in client's QoS 1 window (mqtt_min: packet id p in slot p % window,
one timer for the window) against a scripted broker that acknowledges out of
order, or never acknowledges one packet. A real broker acknowledges in order;
MQTT 3.1.1 does not promise it (§4.6 orders only the broker's own deliveries)."""

import json
import socket
import subprocess
import threading

from conftest import ROOT, mpy_cmd, mpy_env
from test_mqtt_hardening import read_packet


class ScriptedBroker:
    """CONNACKs one client, then acknowledges its PUBLISHes in batches of
    `batch`, newest first; never the packet id in `withhold`."""

    def __init__(self, batch: int, withhold: int | None = None):
        self.batch, self.withhold = batch, withhold
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.received: list[int] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.srv.accept()
        conn.settimeout(30)
        try:
            read_packet(conn)  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")
            pending = []
            while True:
                kind, body = read_packet(conn)
                if kind & 0xF0 != 0x30:
                    continue
                tl = body[0] << 8 | body[1]
                pid = body[2 + tl] << 8 | body[3 + tl]
                self.received.append(pid)
                pending.append(pid)
                if len(pending) == self.batch:
                    for p in reversed(pending):
                        if p != self.withhold:
                            conn.sendall(bytes((0x40, 2, p >> 8, p & 0xFF)))
                    pending = []
        except (EOFError, OSError):
            pass
        finally:
            conn.close()


def _run(broker: ScriptedBroker, window: int, count: int, timeout_ms: int) -> dict:
    done = subprocess.run(mpy_cmd("run_window.py", broker.port, window, count, timeout_ms), env=mpy_env(),
                          capture_output=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def test_acknowledgements_out_of_order_free_their_slots():
    broker = ScriptedBroker(batch=3)
    got = _run(broker, window=4, count=30, timeout_ms=2000)
    # 30 = 10 batches of three, each acknowledged newest first.
    assert got["sent"] == 30 and got["pubacks"] == 30 and got["inflight"] == 0 and not got["dropped"], got
    assert broker.received == list(range(1, 31))
    assert not any("disconnected" in line for line in got["said"]), got["said"]


def test_one_acknowledgement_never_sent_stalls_the_window_and_drops_the_link():
    broker = ScriptedBroker(batch=1, withhold=2)
    got = _run(broker, window=4, count=30, timeout_ms=500)
    # Packet 2's slot (2 % 4) is taken until the drop: packets 3, 4, 5 go out,
    # 6 would need slot 2, so the window waits; no PUBACK for 500 ms drops it.
    assert broker.received == [1, 2, 3, 4, 5], broker.received
    assert got["dropped"] and got["sent"] == 5 and got["pubacks"] == 4, got
    assert any("no PUBACK for 500 ms" in line for line in got["said"]), got["said"]
