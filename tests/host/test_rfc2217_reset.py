"""DTR/RTS over RFC 2217: through a labgrid place the rig resets a real board
with esptool's DTR/RTS sequence (hil.rig.reset, called from hil.rig.session),
and ser2net carries the lines to the board's USB adapter. Here pyserial's own
RFC 2217 server side (serial.rfc2217.PortManager, what ser2net speaks) sits in
front of a serial port that records every modem-line change, on real sockets on
localhost, and the rig's reset goes through pyserial's real RFC 2217 client
with the URL options a place's ports get (hil.farm.client.URL_OPTIONS): the
port must see the sequence as the client sent it, in order, nothing dropped or
merged, and EN held low at least as long as esptool holds it."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import serial
import serial.rfc2217
from serial.urlhandler.protocol_loop import Serial as LoopSerial

from hil.farm.client import URL_OPTIONS
from hil.rig import reset

ARRIVAL_S = 5  # generous: each set-control the client sends is one small TCP write on localhost


class RecordingPort(LoopSerial):
    """A serial port (pyserial's loop://) that records each DTR/RTS change the
    server makes on it, with the time, and wakes whoever waits for them."""

    def __init__(self):
        self.changes: list[tuple[str, bool, float]] = []
        self.changed = threading.Condition()
        super().__init__("loop://")
        self.changes.clear()  # the port's own open sets both lines: only what the server does counts

    def _record(self, line: str, level: bool) -> None:
        with self.changed:
            self.changes.append((line, level, time.monotonic()))
            self.changed.notify_all()

    def _update_dtr_state(self):
        self._record("DTR", bool(self._dtr_state))

    def _update_rts_state(self):
        self._record("RTS", bool(self._rts_state))


class RecordingClient(serial.rfc2217.Serial):
    """pyserial's RFC 2217 client, noting each line change it sends."""

    def __init__(self, *args, **kwargs):
        self.sent: list[tuple[str, bool]] = []
        super().__init__(*args, **kwargs)

    def _update_dtr_state(self):
        self.sent.append(("DTR", bool(self._dtr_state)))
        super()._update_dtr_state()

    def _update_rts_state(self):
        self.sent.append(("RTS", bool(self._rts_state)))
        super()._update_rts_state()


class _Connection:
    """The socket as PortManager writes to it (a file-like `write`)."""

    def __init__(self, sock: socket.socket):
        self.write = sock.sendall


@pytest.fixture
def rfc2217_port():
    """(client URL, the recording port behind pyserial's RFC 2217 server)."""
    port = RecordingPort()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve():
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(0.1)  # to notice `stop`; the data itself is never waited for by time
                manager = serial.rfc2217.PortManager(port, _Connection(conn))
                while not stop.is_set():
                    try:
                        data = conn.recv(1024)
                    except socket.timeout:
                        continue
                    if not data:
                        break
                    payload = b"".join(manager.filter(data))
                    if payload:
                        port.write(payload)
        except BaseException as e:  # noqa: B902 - reported by the test
            errors.append(e)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"rfc2217://127.0.0.1:{listener.getsockname()[1]}{URL_OPTIONS}", port
    finally:
        stop.set()
        server.join(5)
        listener.close()
        port.close()
    assert not errors, f"the RFC 2217 server failed: {errors[0]!r}"


def _received(port: RecordingPort, count: int) -> list[tuple[str, bool, float]]:
    with port.changed:
        port.changed.wait_for(lambda: len(port.changes) >= count, ARRIVAL_S)
        return list(port.changes)


def _reset_through_rfc2217(rfc2217_port, do_reset) -> tuple[list, list, int]:
    """(what the client sent, what the port behind the server saw, how many of
    them the open made) for one reset; the two lists must agree."""
    url, port = rfc2217_port
    client = RecordingClient(url, baudrate=115200, timeout=1)
    try:
        opened = len(client.sent)  # the open sets both lines once
        do_reset(client)
    finally:
        client.close()
    got = _received(port, len(client.sent))
    assert [(line, level) for line, level, _t in got] == client.sent, (
        f"sent {client.sent}, the port behind the RFC 2217 server saw {got}")
    return client.sent, got, opened


def test_the_rigs_hard_reset_reaches_the_port_behind_rfc2217_as_sent(rfc2217_port):
    sent, got, opened = _reset_through_rfc2217(rfc2217_port, reset.hard_reset)
    # esptool's run-mode reset: GPIO0 (DTR) released, then EN (RTS) pulled and
    # let go, DTR written again after each RTS change (esp_pylib.serial_reset).
    assert sent[opened:] == [("DTR", False), ("RTS", True), ("DTR", False), ("RTS", False), ("DTR", False)]
    pulled = next(t for line, level, t in got[opened:] if line == "RTS" and level)
    released = next(t for line, level, t in got[opened:] if line == "RTS" and not level)
    assert released - pulled >= reset.HOLD_S, f"EN held low {released - pulled:.3f} s at the port, sent {reset.HOLD_S} s"


def test_the_bootloader_reset_reaches_the_port_behind_rfc2217_as_sent(rfc2217_port):
    sent, got, opened = _reset_through_rfc2217(rfc2217_port, reset.bootloader_reset)
    # GPIO0 low (DTR asserted) while EN (RTS) is let go: the ROM's bootloader.
    lines = {"DTR": None, "RTS": None}
    entered = False
    for line, level in sent[opened:]:
        if line == "RTS" and lines["RTS"] and not level and lines["DTR"]:
            entered = True
        lines[line] = level
    assert entered, f"no EN release with GPIO0 held low in {sent[opened:]}"
