"""ESP8266 `network` for the virtual rig: one station interface (the host's
loopback is the "LAN"); WiFi loss is injected by the rig.

As on the chip, the interface is one: every `WLAN(STA_IF)` object is a view of
the same state, so a library's own WLAN object sees the connection main.py
made. And as the SDK does, the station's mode and credentials survive a reset
(the SDK keeps them in flash and reconnects at boot), so `connect()` without
arguments, or no call at all, brings back the last network.
"""
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5
MODE_11B = 1
MODE_11G = 2
MODE_11N = 3

# The SDK's flash record of the station: active, ssid, key (HIL_SIM_WIFI_STORE).
_STORE = os.getenv("HIL_SIM_WIFI_STORE")
# Per interface: [active, ssid, key, associated]
_ifs = [[False, None, None, False], [False, None, None, False]]


def _load():
    if not _STORE:
        return
    try:
        with open(_STORE) as f:
            active, ssid, key = f.read().split("\n")[:3]
    except (OSError, ValueError):
        return
    if ssid:
        # Auto-connect at boot, as the SDK does with a stored station config.
        _ifs[STA_IF][:] = [active == "1", ssid, key, active == "1"]


def _save():
    if not _STORE:
        return
    s = _ifs[STA_IF]
    try:
        with open(_STORE, "w") as f:
            f.write("%d\n%s\n%s\n" % (s[0], s[1] or "", s[2] or ""))
    except OSError:
        pass


def _wifi_down():
    # The rig drops WiFi by creating this file in the board's directory.
    path = os.getenv("HIL_SIM_WIFI_DOWN")
    if not path:
        return False
    try:
        os.stat(path)
        return True
    except OSError:
        return False


_load()


class WLAN:
    def __init__(self, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self._if = interface_id

    def active(self, is_active=None):
        s = _ifs[self._if]
        if is_active is None:
            return s[0]
        s[0] = bool(is_active)
        if not s[0]:
            s[3] = False
        if self._if == STA_IF:
            _save()

    def connect(self, ssid=None, key=None, *, bssid=None):
        s = _ifs[self._if]
        if not s[0]:
            raise OSError("Cannot connect to AP")  # wifi_station_connect() fails
        if ssid is not None:
            s[1], s[2] = ssid, key
            _save()
        s[3] = s[1] is not None

    def disconnect(self):
        _ifs[self._if][3] = False

    def status(self, param=None):
        if param == "rssi":
            return -55
        s = _ifs[self._if]
        if not s[0] or not s[3]:
            return STAT_IDLE
        return STAT_NO_AP_FOUND if _wifi_down() else STAT_GOT_IP

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, *args, **kw):
        if args and args[0] == "mac":
            return b"\x5c\xcf\x7f\x00\x00\x01"
        if args and args[0] in ("essid", "ssid"):
            return _ifs[self._if][1] or ""
        return None

    def scan(self):
        return []
