"""The virtual LAN's DNS server: the one resolver the virtual boards ask.

It listens on a free UDP port on loopback; the boards' HAL `socket` routes
their port-53 traffic to it (hil/sim/hal/socket.py), so a name never reaches
the host's resolver. Each name has a mode the tests set through the rig's
control socket: answer with an address (a broker that moved gets a new one),
drop the query (a server that does not answer), or NXDOMAIN. Names without a
mode get NXDOMAIN. While the bridge's WiFi is down every query is lost, as on
the air. Written by hand: an A-record answer is 30 lines of wire format, less
than a dependency's API.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable

MODES = ("answer", "drop", "nxdomain")
TTL_S = 60


def parse_query(data: bytes) -> tuple[int, str, int, int] | None:
    """(id, name, qtype, end of the question) of a standard query, else None."""
    if len(data) < 17:
        return None
    qid, flags, qdcount = struct.unpack(">HHH", data[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    labels, p = [], 12
    while p < len(data) and data[p]:
        n = data[p]
        if n & 0xC0 or p + 1 + n > len(data):
            return None
        labels.append(data[p + 1:p + 1 + n].decode("ascii", "replace"))
        p += 1 + n
    if p + 5 > len(data):
        return None
    qtype, _qclass = struct.unpack(">HH", data[p + 1:p + 5])
    return qid, ".".join(labels).lower(), qtype, p + 5


def reply(query: bytes, end: int, address: str | None, nxdomain: bool = False) -> bytes:
    """The answer to a query whose question ends at `end`: one A record, none
    (address None), or NXDOMAIN (rcode 3)."""
    qid = query[:2]
    flags = 0x8183 if nxdomain else 0x8180  # response, recursion desired and available
    head = qid + struct.pack(">HHHHH", flags, 1, 1 if address else 0, 0, 0)
    answer = b""
    if address:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, TTL_S, 4) + socket.inet_aton(address)
    return head + query[12:end] + answer


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, reachable: Callable[[], bool] = lambda: True):
        self.modes: dict[str, tuple[str, str | None]] = {}
        self.queries: list[tuple[float, str]] = []  # (host monotonic time, name) of every query that arrived
        self._reachable = reachable
        self._transport: asyncio.DatagramTransport | None = None
        # Bound now, so that the port can go into the boards' environment before the loop runs.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=self.sock)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        else:
            self.sock.close()

    def set(self, name: str, mode: str, address: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"dns mode must be one of {'|'.join(MODES)}, not {mode!r}")
        if mode == "answer":
            try:
                socket.inet_aton(address or "")
            except OSError:
                raise ValueError(f"dns mode answer needs an IPv4 address, not {address!r}") from None
        self.modes[name.lower()] = (mode, address)

    def connection_made(self, transport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if not self._reachable():
            return  # the board's WiFi is down: the query never reached a server
        q = parse_query(data)
        if q is None:
            return
        _qid, name, qtype, end = q
        self.queries.append((time.monotonic(), name))
        mode, address = self.modes.get(name, ("nxdomain", None))
        if mode == "drop":
            return
        if qtype != 1:
            address = None  # only A records here: an AAAA question gets no address
        self._transport.sendto(reply(data, end, address, nxdomain=mode == "nxdomain"), addr)
