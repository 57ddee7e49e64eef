# mqtt_min with its packet part-way out while the lock changes hands: a packet
# the socket takes only part of must go out whole before any other. A fake
# socket takes 5 bytes of its first write; the lock is handed from another
# writer to a waiting publisher while a third publisher starts. Prints the
# bytes the socket got as hex.
import asyncio
import binascii

from mqtt_min import MQTTClient


class Sock:
    def __init__(self):
        self.out = bytearray()
        self.limits = [5]

    def write(self, b):
        n = len(b)
        if self.limits:
            n = min(n, self.limits.pop(0))
        self.out += bytes(b[:n])
        return n


c = MQTTClient("127.0.0.1", 1883, client_id=b"race", keepalive=0)
sock = Sock()
c._s = sock
c._connected = True
c._ready.set()
lock = c._lock


async def pub(topic):
    await c.publish(topic, b"0123456789", False, 0)


async def holder():
    # Another writer with a packet part-way out (the supervisor's PINGREQ, a
    # publisher's rest): it holds the lock while "b" waits for it, and "a"
    # starts just before the lock goes to "b".
    await lock.acquire()
    await asyncio.sleep_ms(20)
    asyncio.create_task(pub(b"a/topic"))
    lock.release()


async def main():
    asyncio.create_task(holder())
    await asyncio.sleep_ms(0)
    asyncio.create_task(pub(b"b/topic"))
    await asyncio.sleep_ms(100)
    print(binascii.hexlify(sock.out).decode())


asyncio.run(main())
