"""The virtual boards' WiFi/LAN between the bridge and the broker.

A TCP forwarder in the virtual rig: the bridge connects to it as it would to
the broker across the WiFi. While the board's WiFi is down every packet is
lost: open connections go silent (their broker side is closed, as the broker
times them out) and new ones are accepted into silence, so the firmware must
notice by itself, as on a real network. Written by hand: a 40-line asyncio
relay with a switch is simpler than any proxy package.

The board's lwIP send buffer (cmod/vboard/vboard_lwip.c: at most 1,072 B not
acknowledged) meets the relay's kernel. While the WiFi is up the relay reads
eagerly with the kernel's usual buffers: it acknowledges at once, as the PC's
kernel does over a real WiFi, however busy the rig's own process is (Linux's
smallest buffers all the time made the relay's turns the bridge's bottleneck:
39 of 200 back-to-back telegrams published at host speed). A lost packet is
never read: when the WiFi goes down the relay shrinks each link's receive
buffer to Linux's least and stops reading, so what the board sends is soon no
longer acknowledged and its writes stop a little after lwIP's buffer, as the
chip's do with no AP to hear them. A stopped broker (SIGSTOP) still has its
kernel acknowledge into its receive buffer, as the PC's does on a real rig.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket

_CHUNK = 4096  # bytes per read


class Lan:
    def __init__(self):
        self.up = True
        self._closed = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self._target: tuple[str, int] | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self.port = 0
        self.address = "127.0.0.1"  # where the broker is on the LAN (move() changes it)

    async def forward(self, host: str, port: int) -> int:
        """Listen on a free loopback port that leads to host:port; returns it."""
        self._target = (host, port)
        if self._server is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.address, self.port))
            self._server = await asyncio.start_server(self._serve, sock=listener)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def move(self, address: str) -> None:
        """The broker moves to another loopback address, same port (Linux
        routes all of 127/8 to lo): its old address has nothing listening any
        more (connection refused), and its open connections end."""
        if self._server is not None:
            self._server.close()
            self._server = None
            self._end_links()
        self.address = address
        if self._target is not None:
            await self.forward(*self._target)

    def set_up(self, up: bool) -> None:
        self.up = up
        if not up:
            for client, upstream in list(self._links):
                self._lose(client)
                if upstream is not None:
                    upstream.close()  # the broker loses the client; the client hears nothing

    async def close(self) -> None:
        self._closed.set()
        if self._server is not None:
            self._server.close()
        self._end_links()

    def _end_links(self) -> None:
        for client, upstream in list(self._links):
            client.close()
            if upstream is not None:
                upstream.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_w = None
        try:
            if self.up and self._target is not None:
                up_r, upstream_w = await asyncio.open_connection(*self._target)
            link = (writer, upstream_w)
            self._links.add(link)
            if upstream_w is None:
                self._lose(writer)
                await self._lost_forever()  # WiFi down: accepted into silence
                return
            await asyncio.gather(self._pipe(reader, upstream_w), self._pipe(up_r, writer, to_client=True))
        except OSError:
            pass  # broker unreachable: the client sees the connection close
        finally:
            self._links = {lk for lk in self._links if lk[0] is not writer}
            for w in (writer, upstream_w):
                if w is not None:
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, to_client: bool = False) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                if not self.up:
                    await self._lost_forever()
                    return
                writer.write(data)
                await writer.drain()
        if to_client and self.up:
            writer.close()  # the broker closed the connection (a restart): the client hears it, as over WiFi

    @staticmethod
    def _lose(client: asyncio.StreamWriter) -> None:
        # Lost on the air: never acknowledged. The kernel still takes what
        # fits its receive buffer, so shrink that to Linux's least (2,304 B)
        # first; the window it already advertised is not taken back.
        if client.is_closing():
            return  # the broker hung up and the relay closed the link: nothing left to lose
        client.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        client.transport.pause_reading()

    async def _lost_forever(self) -> None:
        # Never read again: what the board sends is not acknowledged, as over
        # an AP that is gone (until the rig closes the LAN).
        await self._closed.wait()
