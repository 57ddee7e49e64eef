"""config.json loading and validation for the bridge (no hardware imports).

load() returns (config, problems): a complete config with defaults filled in,
and one human-readable line per problem. main.py prints the problems and stops
at the REPL instead of rebooting, so a typo never turns into a boot loop.
"""

import json

DEFAULTS = {
    "wifi": {"ssid": None, "password": ""},
    "mqtt": {"host": None, "port": 1883, "user": None, "password": None,
             "client_id": None, "keepalive": 60, "qos": 1, "max_inflight": None,
             "timeout_ms": 10000, "backoff_max_ms": 4000, "backend": "auto"},
    "base_topic": "p1",
    "boot_window_ms": 2000,
    "uart_rxbuf": 1024,
    "telegram_timeout_ms": 1000,
    "status_interval_s": 60,
    "liveness_s": 300,
    "cpu_mhz": 160,
    "repl_idle_s": 300,
}

BACKENDS = ("auto", "builtin", "mqtt_as")
SECRETS = ("wifi.password", "mqtt.password")  # never echoed in a problem line

# (section or None, key, type, required, min, max); ints are checked against the range,
# strings against their length.
_RULES = (
    ("wifi", "ssid", str, True, 1, 32),
    ("wifi", "password", str, False, 0, 64),
    ("mqtt", "host", str, True, 1, 253),
    ("mqtt", "port", int, False, 1, 65535),
    ("mqtt", "user", str, False, 1, 256),
    ("mqtt", "password", str, False, 0, 256),
    ("mqtt", "client_id", str, False, 1, 23),
    ("mqtt", "keepalive", int, False, 0, 65535),
    ("mqtt", "qos", int, False, 0, 1),
    ("mqtt", "max_inflight", int, False, 1, 64),  # None: the backend's own
    ("mqtt", "timeout_ms", int, False, 500, 120000),
    ("mqtt", "backoff_max_ms", int, False, 100, 600000),
    ("mqtt", "backend", str, False, 1, 16),
    (None, "base_topic", str, False, 1, 64),
    (None, "boot_window_ms", int, False, 0, 60000),
    (None, "uart_rxbuf", int, False, 64, 8192),
    (None, "telegram_timeout_ms", int, False, 50, 60000),
    (None, "status_interval_s", int, False, 1, 86400),
    (None, "liveness_s", int, False, 0, 86400),  # 0: off; 2 x 86400 s stays within ticks_diff's range
    (None, "cpu_mhz", int, False, 80, 160),  # and one of the chip's two clocks (validate())
    (None, "repl_idle_s", int, False, 0, 86400),  # 0: off; the timer's period in ms stays a small int
)


def _merge(raw, problems):
    cfg = {}
    for k, v in DEFAULTS.items():
        if isinstance(v, dict):
            sect = raw.get(k, {})
            if not isinstance(sect, dict):
                problems.append("%s: must be an object" % k)
                sect = {}
            d = dict(v)
            for sk, sv in sect.items():
                if sk in v:
                    d[sk] = sv
                elif not sk.startswith("_"):
                    problems.append("%s.%s: unknown key" % (k, sk))
            cfg[k] = d
        else:
            cfg[k] = raw.get(k, v)
    for k in raw:
        if k not in DEFAULTS and not k.startswith("_"):  # "_comment" etc. are documentation
            problems.append("%s: unknown key" % k)
    return cfg


def validate(raw):
    """Return (config with defaults, [problem, ...]) for a parsed JSON object."""
    problems = []
    if not isinstance(raw, dict):
        return None, ["config.json must contain a JSON object"]
    cfg = _merge(raw, problems)
    for sect, key, typ, required, lo, hi in _RULES:
        v = cfg[sect][key] if sect else cfg[key]
        name = sect + "." + key if sect else key
        if v is None:
            if required:
                problems.append("%s: missing (required)" % name)
            continue
        # bool is an int in Python: "port": true must not pass as 1.
        if not isinstance(v, typ) or isinstance(v, bool):
            got = "a %s" % type(v).__name__ if name in SECRETS else "%r" % (v,)
            problems.append("%s: must be %s, got %s" % (name, "an integer" if typ is int else "a string", got))
            continue
        n = v if typ is int else len(v)
        if not lo <= n <= hi:
            what = "" if typ is int else "length "
            problems.append("%s: %s%d is outside %d..%d" % (name, what, n, lo, hi))
    t = cfg["base_topic"]
    if isinstance(t, str) and ("+" in t or "#" in t or t.startswith("/") or t.endswith("/")):
        problems.append("base_topic: %r must not contain + or # nor start/end with /" % t)
    c = cfg["cpu_mhz"]
    if type(c) is int and 80 < c < 160:  # outside 80..160 the rule above said so
        problems.append("cpu_mhz: %d is not 80 or 160 (the ESP8266's two clocks)" % c)
    m = cfg["mqtt"]
    if isinstance(m["backend"], str) and m["backend"] not in BACKENDS:
        problems.append("mqtt.backend: %r is not one of %s" % (m["backend"], ", ".join(BACKENDS)))
    if m["password"] is not None and m["user"] is None:
        problems.append("mqtt.password: given without mqtt.user")
    return cfg, problems


def load(path="config.json"):
    """Read and validate a config file; never raises for bad content."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return None, ["%s: cannot read (%s); copy config.example.json to %s and edit it" % (path, e, path)]
    try:
        raw = json.loads(text)
    except ValueError as e:
        return None, ["%s: not valid JSON (%s)" % (path, e)]
    return validate(raw)
