# mqtt_min's QoS 1 window against a scripted broker: publish <count> QoS 1
# messages with max_inflight <window> and timeout_ms <timeout_ms>, then wait
# until none is in flight or the link drops. Prints one JSON line.
# usage: run_window.py <port> <window> <count> <timeout_ms>
import sys
import json
import time
import asyncio

from mqtt_min import MQTTClient

port, window, count, timeout_ms = (int(a) for a in sys.argv[1:5])
said = []
c = MQTTClient("127.0.0.1", port, client_id=b"window", max_inflight=window, timeout_ms=timeout_ms,
               keepalive=0, log=said.append)


sent = [0]


async def publisher():
    for i in range(count):
        if not await c.publish(b"w/%d" % i, b"%d" % i, False, 1):
            break
        sent[0] += 1


async def main():
    asyncio.create_task(c.run())
    await c.up.wait()
    c.down.clear()
    asyncio.create_task(publisher())
    # Until every message is out and acknowledged, or the link dropped.
    t0 = time.ticks_ms()
    while (sent[0] < count or c.inflight()) and not c.down.is_set() \
            and time.ticks_diff(time.ticks_ms(), t0) < 20 * timeout_ms:
        await asyncio.sleep_ms(10)
    print(json.dumps({"sent": sent[0], "pubacks": c.pubacks, "inflight": c.inflight(),
                      "dropped": c.down.is_set(), "said": said}))


asyncio.run(main())
