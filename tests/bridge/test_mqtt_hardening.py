"""The built-in MQTT client against a broker that misbehaves: a packet that
claims 2 MB, a packet type a publisher is never sent. The client must drop the
link (no read, no buffer, no MemoryError), close its socket for real, and
connect again. The broker here is a small hand-written MQTT peer: no real broker
sends such packets."""

import socket
import threading

import pytest

from test_mqtt import Bridge


def read_packet(conn) -> tuple[int, bytes]:
    """One MQTT packet from a blocking socket: (first byte, the rest after the
    remaining length). EOFError when the peer closes first."""
    def recv(n):
        data = conn.recv(n)
        if not data:
            raise EOFError
        return data

    first = recv(1)[0]
    n, shift = 0, 0
    while True:
        b = recv(1)[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    body = b""
    while len(body) < n:
        body += recv(n - len(body))
    return first, body


class HostileBroker:
    """Accepts MQTT connections; answers each CONNECT with CONNACK and then `evil`.
    Records, per connection, whether the client closed it."""

    user, password = "u", "pw"

    def __init__(self, evil: bytes):
        self.evil = evil
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", self.srv.getsockname()[1]
        self.closed_by_client = []  # one Event per connection, in order: set when the client closed it
        self.connections = threading.Semaphore(0)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        closed = threading.Event()
        self.closed_by_client.append(closed)
        conn.settimeout(30)
        try:
            read_packet(conn)  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00" + self.evil)
            self.connections.release()
            while conn.recv(512):
                pass  # whatever the client still sends, until it closes
            closed.set()
        except ConnectionResetError:
            closed.set()  # closed with our bytes unread: the kernel answers with a reset
        except (OSError, EOFError):
            pass  # a timeout (the client kept the connection open), or it closed before CONNECT
        finally:
            conn.close()

    def close(self):
        self.srv.close()


@pytest.mark.parametrize("evil, why", [
    (b"\x30\x80\x80\x80\x01", "unexpected packet from broker: type 30, at least 128 bytes"),  # PUBLISH of 2 MB
    (b"\x30\xc0\x9a\x0c\x00\x03t/x", "unexpected packet from broker: type 30, at least 128 bytes"),  # of 200,000 B
    (b"\x90\x03\x00\x01\x00", "unexpected packet from broker: type 90, 3 bytes"),  # a SUBACK
])
def test_a_hostile_packet_drops_the_link_and_the_socket(evil, why):
    broker = HostileBroker(evil)
    bridge = Bridge(broker, keepalive=60)
    try:
        assert broker.connections.acquire(timeout=15), "the bridge never connected"
        bridge.wait_line("mqtt disconnected: " + why)
        assert broker.connections.acquire(timeout=15), "the bridge did not connect again"
        assert broker.closed_by_client[0].wait(5), "the bridge dropped the link but left its socket open"
        out = bridge.output()
        assert "MemoryError" not in out and "application crashed" not in out, out
    finally:
        bridge.kill()
        broker.close()
