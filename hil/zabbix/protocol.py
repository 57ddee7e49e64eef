"""The Zabbix agent's active-check protocol, and a stand-in for the server.

Frames are ``ZBXD``, a flags byte (0x01 protocol, 0x02 zlib-compressed, 0x04
large), the data length and the uncompressed length (4 bytes each, 8 when
large, little-endian), then JSON. zabbix_agent2 asks for its list with an
"active checks" request and sends values in "agent data" requests, one TCP
connection per exchange (Zabbix manual, "Zabbix agent 2 protocol").

:class:`ActiveChecksServer` answers both as a Zabbix server or proxy would for
one host: it hands out a fixed list of items (keys already resolved) and keeps
every value the agent sends. Written by hand: no maintained Python package
serves the agent side of this protocol (the ones on PyPI send, as zabbix_sender).
"""
from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
import zlib
from dataclasses import dataclass

HEADER = b"ZBXD"
FLAG_PROTOCOL, FLAG_COMPRESSED, FLAG_LARGE = 0x01, 0x02, 0x04
MAX_DATA = 128 * 1024 * 1024  # what a Zabbix server accepts in one message


class ProtocolError(Exception):
    """A frame that is not the Zabbix protocol."""


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtocolError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> dict:
    """One message, decompressed and decoded."""
    head = _read_exactly(sock, 5)
    if head[:4] != HEADER:
        raise ProtocolError(f"not a Zabbix frame: starts with {head!r}")
    flags = head[4]
    width = 8 if flags & FLAG_LARGE else 4
    sizes = _read_exactly(sock, 2 * width)
    size = int.from_bytes(sizes[:width], "little")
    if size > MAX_DATA:
        raise ProtocolError(f"frame of {size} bytes is larger than a server accepts")
    data = _read_exactly(sock, size)
    if flags & FLAG_COMPRESSED:
        data = zlib.decompress(data)
    return json.loads(data)


def frame(message: dict) -> bytes:
    data = json.dumps(message).encode()
    return HEADER + bytes([FLAG_PROTOCOL]) + struct.pack("<II", len(data), 0) + data


@dataclass(frozen=True)
class Delivered:
    """One value as the agent sent it."""
    itemid: int
    value: str
    state: int  # 0 normal, 1 not supported (value is then the agent's error text)
    clock: float  # the agent's timestamp, seconds


class ActiveChecksServer:
    """A Zabbix server for one host's active checks, on 127.0.0.1 and a free port.

    items: itemid -> key, keys with macros already resolved. Use as a context
    manager; :meth:`values` and :meth:`wait` read what the agent sent."""

    def __init__(self, host: str, items: dict[int, str], *, delay: str = "0"):
        self.host = host
        self.items = dict(items)
        self.delay = delay
        self.requests = 0  # "active checks" requests answered
        self.refused: list[str] = []  # what was answered with "failed", and why
        self._values: list[Delivered] = []
        self._cond = threading.Condition()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    self.request.settimeout(10)
                    message = read_frame(self.request)
                    self.request.sendall(frame(owner._answer(message)))
                except (OSError, ProtocolError, ValueError) as e:
                    with owner._cond:
                        owner.refused.append(f"{type(e).__name__}: {e}")
                        owner._cond.notify_all()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> "ActiveChecksServer":
        self._server.server_bind()
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, name="zabbix-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the protocol --------------------------------------------------------------
    def _answer(self, message: dict) -> dict:
        request = message.get("request")
        with self._cond:
            if request == "active checks":
                if message.get("host") != self.host:
                    why = f"host [{message.get('host')}] not found"
                    self.refused.append(why)
                    self._cond.notify_all()
                    return {"response": "failed", "info": why}
                self.requests += 1
                self._cond.notify_all()
                return {"response": "success",
                        "data": [{"key": key, "itemid": itemid, "delay": self.delay, "lastlogsize": 0, "mtime": 0}
                                 for itemid, key in self.items.items()]}
            if request == "agent data":
                got = [Delivered(int(v["itemid"]), str(v.get("value", "")), int(v.get("state", 0)),
                                 v.get("clock", 0) + v.get("ns", 0) / 1e9)
                       for v in message.get("data", []) if "itemid" in v]
                self._values.extend(got)
                self._cond.notify_all()
                return {"response": "success",
                        "info": f"processed: {len(got)}; failed: 0; total: {len(got)}; seconds spent: 0.000001"}
        return {"response": "success"}  # heartbeats and anything else: acknowledged, nothing to keep

    # -- what the agent did --------------------------------------------------------
    def values(self) -> list[Delivered]:
        with self._cond:
            return list(self._values)

    def wait(self, predicate, timeout: float) -> bool:
        """Until predicate(server) holds (checked at every message), or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True
