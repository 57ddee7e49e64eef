# A recording stand-in for Peter Hinch's mqtt_as, with ONLY its documented API
# (micropython-mqtt README_mqtt_as / mqtt_as.py): module-level `config` dict of
# defaults, MQTTClient(config), async connect(*, quick=False), async
# publish(topic, msg, retain=False, qos=0), isconnected(); in callback mode
# (queue_len 0) it awaits config['connect_coro'](client) and
# config['wifi_coro'](state). Every call is printed as "fake_mqtt_as: ..." so the
# test can check the adapter's call shapes. Used only on the test's MICROPYPATH.
import asyncio

config = {
    "client_id": b"0a0b0c0d", "server": None, "port": 0, "user": "", "password": "",
    "keepalive": 60, "ping_interval": 0, "ssl": False, "ssl_params": {}, "response_time": 10,
    "clean_init": True, "clean": True, "max_repubs": 4, "will": None,
    "subs_cb": lambda *_: None, "wifi_coro": None, "connect_coro": None,
    "ssid": None, "wifi_pw": None, "queue_len": 0,
}
_DOCUMENTED = set(config)
FAIL_CONNECTS = 1  # the first connect() raises OSError, as with a broker not up yet


def _say(*a):
    print("fake_mqtt_as:", *a)


class MQTTClient:
    def __init__(self, cfg):
        extra = set(cfg) - _DOCUMENTED
        if extra:
            raise ValueError("undocumented config keys: %r" % sorted(extra))
        if cfg["server"] is None:
            raise ValueError("no server specified.")
        w = cfg["will"]
        if w is not None and (len(w) != 4 or w[3] not in (0, 1)):
            raise ValueError("will must be (topic, msg, retain, qos)")
        self._cfg = cfg
        self._up = False
        self._tries = 0
        _say("init", repr(sorted((k, v) for k, v in cfg.items() if k not in ("subs_cb", "wifi_coro", "connect_coro", "ssl_params"))))
        _say("callbacks", callable(cfg["connect_coro"]), callable(cfg["wifi_coro"]))

    async def connect(self, *, quick=False):
        self._tries += 1
        _say("connect quick=%r try=%d" % (quick, self._tries))
        if self._tries <= FAIL_CONNECTS:
            raise OSError(-1, "Bad CONNACK")
        self._up = True
        if self._cfg["queue_len"] <= 0:
            asyncio.create_task(self._cfg["wifi_coro"](True))
            asyncio.create_task(self._cfg["connect_coro"](self))

    def isconnected(self):
        return self._up

    async def publish(self, topic, msg, retain=False, qos=0):
        if not (qos == 0 or qos == 1):
            raise ValueError("Only qos 0 and 1 are supported.")
        while not self._up:
            await asyncio.sleep_ms(10)
        _say("publish", bytes(topic).decode(), bytes(msg).decode(), "retain=%r qos=%d" % (bool(retain), qos))

    async def outage(self):  # test hook: the link drops and comes back
        self._up = False
        await self._cfg["wifi_coro"](False)
        self._up = True
        await self._cfg["wifi_coro"](True)
        await self._cfg["connect_coro"](self)
