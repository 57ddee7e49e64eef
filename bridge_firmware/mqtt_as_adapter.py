"""The bridge's MQTT interface (see mqtt_backend.py) on top of Peter Hinch's
mqtt_as (micropython-mqtt), written against its documented API:

  from mqtt_as import MQTTClient, config
  config['server'|'port'|'client_id'|'user'|'password'|'ssid'|'wifi_pw'|'keepalive']
  config['will'] = (topic, msg, retain, qos)
  config['queue_len'] = 0          callback mode: no message queue is allocated
  config['connect_coro']           awaited with the client on every (re)connect
  config['wifi_coro']              awaited with True / False on link up / down
  client = MQTTClient(config); await client.connect(quick=True)
  await client.publish(topic, msg, retain, qos); client.isconnected()

mqtt_as reconnects by itself after the first successful connect(), and its QoS 1
publish() returns only once the PUBACK arrived (it retransmits meanwhile), so
here the window is one message and a stalled broker stalls the publisher - which
is fine: the reader never waits on it and the snapshot supersedes old values.
Not run against the real library in this repository's CI (it is not installable
there); tests/bridge checks the calls against a recording fake.
"""

import asyncio


class Client:
    name = "mqtt_as"
    manages_wifi = True

    def __init__(self, mqtt_as, cfg, log, will_topic):
        m = cfg["mqtt"]
        w = cfg["wifi"]
        c = mqtt_as.config  # the module's defaults, completed as its README shows
        c["server"] = m["host"]
        c["port"] = m["port"]
        c["client_id"] = m["client_id"]
        if m["user"] is not None:
            c["user"] = m["user"]
            c["password"] = m["password"] or ""
        c["ssid"] = w["ssid"]
        c["wifi_pw"] = w["password"]
        c["keepalive"] = m["keepalive"]
        c["will"] = (will_topic, "offline", True, 0)
        c["queue_len"] = 0  # callback mode (we never subscribe)
        c["connect_coro"] = self._on_connect
        c["wifi_coro"] = self._on_link
        self.log = log
        self.host = m["host"]
        self.port = m["port"]
        self.backoff_max_ms = m["backoff_max_ms"]
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self._forever = asyncio.Event()
        self.connects = 0
        self.published = 0
        self.pubacks = 0
        self.lost = 0
        self._c = mqtt_as.MQTTClient(c)

    async def _on_connect(self, client):
        self.connects += 1
        self.down.clear()
        self.up.set()
        self.log("mqtt connected to %s:%d (mqtt_as)" % (self.host, self.port))

    async def _on_link(self, state):
        if not state:
            self.up.clear()
            self.down.set()
            self.log("mqtt disconnected (mqtt_as reconnects)")

    def isconnected(self):
        return self._c.isconnected()

    def stats(self):
        return (self.connects, self.published, self.pubacks, self.lost)

    async def publish(self, topic, msg, retain=False, qos=0):
        if callable(msg):  # the bridge's status: built now (mqtt_backend.py)
            msg = msg()
        await self._c.publish(topic, msg, retain, qos)
        self.published += 1
        if qos:
            self.pubacks += 1  # mqtt_as returns from a QoS 1 publish after its PUBACK
        return True

    async def run(self):
        # Only the first connect() is ours to retry; afterwards mqtt_as keeps the
        # link up by itself (its own task), so this task just stays alive.
        delay = 1000
        while True:
            try:
                await self._c.connect(quick=True)
                break
            except OSError as e:
                self.log("mqtt connect to %s:%d failed: %s; retry in %d ms (mqtt_as)"
                         % (self.host, self.port, e, delay))
                await asyncio.sleep_ms(delay)
                delay = min(delay * 2, self.backoff_max_ms)
        await self._forever.wait()
