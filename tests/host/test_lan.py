"""hil.sim.lan: the virtual bridge's way to the broker. A broker that closes a
connection (it restarts) is heard by the client at once, as over a real
network; with the WiFi down the client hears nothing at all."""
from __future__ import annotations

import asyncio

from hil.sim.lan import Lan


async def _through_lan_to_a_broker_that_hangs_up():
    """(lan, client reader, client writer, event set once the broker closed the
    connection after the client's first 5 bytes, the broker's server)."""
    closed = asyncio.Event()

    async def serve(reader, writer):
        await reader.readexactly(5)  # the client's first packet arrived
        writer.close()  # then the broker goes away
        closed.set()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    lan = Lan()
    port = await lan.forward("127.0.0.1", server.sockets[0].getsockname()[1])
    r, w = await asyncio.open_connection("127.0.0.1", port)
    return lan, r, w, closed, server


def test_a_broker_closing_the_connection_reaches_the_client():
    async def run():
        lan, r, w, closed, server = await _through_lan_to_a_broker_that_hangs_up()
        w.write(b"hello")
        await closed.wait()
        got = await asyncio.wait_for(r.read(100), timeout=10)  # EOF, not silence until the keepalive
        await lan.close()
        server.close()
        return got
    assert asyncio.run(run()) == b""


def test_with_the_wifi_down_a_broker_closing_is_not_heard():
    async def run():
        lan, r, w, _closed, server = await _through_lan_to_a_broker_that_hangs_up()
        w.write(b"hel")
        await w.drain()
        lan.set_up(False)
        w.write(b"lo")  # lost on the air: the broker never gets its 5 bytes
        read = asyncio.ensure_future(r.read(100))
        done, _ = await asyncio.wait({read}, timeout=1.0)  # a bounded look for a FIN that must not come
        await lan.close()
        server.close()
        return bool(done)  # anything heard: data, or the connection closing
    assert asyncio.run(run()) is False


def test_the_wifi_going_down_just_after_the_broker_hung_up_is_no_error():
    """The relay has closed its side of a link the broker hung up on, and the
    link is not yet forgotten: the WiFi going down then must pass over it (a
    closed socket takes no option) rather than fail the rig's control command."""
    async def run():
        lan, r, w, closed, server = await _through_lan_to_a_broker_that_hangs_up()
        w.write(b"hello")
        await closed.wait()
        for _ in range(10_000):  # loop turns, not time: until the relay's side is closed
            gone = [c for c, _up in lan._links if c.get_extra_info("socket").fileno() == -1]
            if gone:
                break
            await asyncio.sleep(0)
        assert gone, "the relay never closed its side of the link the broker hung up on"
        lan.set_up(False)
        await lan.close()
        server.close()
    asyncio.run(run())
