# Run the bridge with the mqtt_as backend (fake_mqtt_as/ on MICROPYPATH) and a
# telegram fed straight into the reader; stop once the telegram's values, the
# status and a simulated outage's republish went through the adapter.
# usage: run_adapter.py <config.json> <telegram file>
import sys
import asyncio

import bridge
import config
import obis

cfg, problems = config.load(sys.argv[1])
assert not problems, problems
telegram = open(sys.argv[2], "rb").read()
app = bridge.from_config(cfg, print, 0)
print("backend", app.client.name, type(app.client).__module__ if hasattr(type(app.client), "__module__") else "")


async def main():
    t = asyncio.create_task(app.client.run())
    p = asyncio.create_task(app.publisher())
    h = asyncio.create_task(app.health())
    while app.client.published < 2:  # status + online at connect
        await asyncio.sleep_ms(10)
    app.reader.feed(telegram)
    while app.snapshot.pending(0) >= 0 or app.client.published < obis.COUNT + 2:
        await asyncio.sleep_ms(10)
    print("phase outage")
    await app.client._c.outage()
    while app.client.published < 2 * obis.COUNT + 4:
        await asyncio.sleep_ms(10)
    print("stats", app.client.stats())
    for x in (t, p, h):
        x.cancel()


asyncio.run(main())
