"""ESP8266 `network` for the virtual rig: one station interface (the host's
loopback is the "LAN"); WiFi loss is injected by the rig.

As on the chip, the interface is one: every `WLAN(STA_IF)` object is a view of
the same state, so a library's own WLAN object sees the connection main.py
made. And as the SDK does, the station's mode and credentials survive a reset
(the SDK keeps them in flash and reconnects at boot), so `connect()` without
arguments, or no call at all, brings back the last network.

Association takes the chip's time: from connect(), from boot with a stored
network, and from the moment the rig brings the WiFi back after a drop, the
station is STAT_CONNECTING for ASSOC_MS before it has an IP (docs/FIDELITY.md,
"WiFi state").
"""
import os
import time

from _chipc import C as _C  # the HAL is C on the chip: its time is not the chip's computing

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

# An ESP8266 from the SDK's connect to GOT_IP with DHCP: 3,235 ms after a
# wake-up whose user code ran at 271 ms (flogics.com, 2016-09-14, "ESP8266
# 起動から Wi-Fi 接続までの時間を実測してみた"); a scan-and-connect from
# WiFi.begin() took 4,001 ms in softplus/esp8266-wifi-timing (2022).
ASSOC_MS = 2964

# The SDK's flash record of the station: active, ssid, key (HIL_SIM_WIFI_STORE).
_STORE = os.getenv("HIL_SIM_WIFI_STORE")
# Per interface: [active, ssid, key, associated, ticks_ms when it has its IP]
_ifs = [[False, None, None, False, 0], [False, None, None, False, 0]]
# The link went down since status() last looked: association starts again
# when the rig brings the WiFi back.
_seen_down = False


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
        _ifs[STA_IF][:] = [active == "1", ssid, key, active == "1", time.ticks_add(time.ticks_ms(), ASSOC_MS)]


def _save():
    if not _STORE:
        return
    s = _ifs[STA_IF]
    try:
        with open(_STORE, "w") as f:
            f.write("%d\n%s\n%s\n" % (s[0], s[1] or "", s[2] or ""))
    except OSError:
        pass


# The rig drops WiFi by creating this file in the board's directory.
_DOWN_PATH = os.getenv("HIL_SIM_WIFI_DOWN")
# How often the file is looked at: a firmware may ask isconnected() hundreds of
# times a second (mqtt_as does before every socket call), and a failed stat
# allocates an OSError on the board's heap where the chip's C allocates
# nothing; the SDK itself notices a lost AP only after seconds of missed beacons.
_DOWN_POLL_MS = 50
_down = [False, time.ticks_add(time.ticks_ms(), -_DOWN_POLL_MS)]  # the last answer, and ticks_ms when the file was looked at


def _wifi_down():
    if not _DOWN_PATH:
        return False
    now = time.ticks_ms()
    if time.ticks_diff(now, _down[1]) < _DOWN_POLL_MS:
        return _down[0]
    try:
        os.stat(_DOWN_PATH)
        _down[0] = True
    except OSError:
        _down[0] = False
    _down[1] = now
    return _down[0]


def _restored_at():
    # When the rig brought the WiFi back (its ticks_ms, written to
    # HIL_SIM_WIFI_UP): the AP is there from then on, whenever the firmware
    # looks. Read once per drop, so a status() poll allocates no more than before.
    try:
        with open(os.getenv("HIL_SIM_WIFI_UP") or "") as f:
            return int(f.read())
    except (OSError, ValueError):
        return time.ticks_ms()


_load()


class WLAN:
    # Every method is C on the chip (the SDK's wifi_station_* calls): `with _C`.
    def __init__(self, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self._if = interface_id

    def active(self, is_active=None):
        with _C:
            s = _ifs[self._if]
            if is_active is None:
                return s[0]
            s[0] = bool(is_active)
            if not s[0]:
                s[3] = False
            if self._if == STA_IF:
                _save()

    def connect(self, ssid=None, key=None, *, bssid=None):
        with _C:
            s = _ifs[self._if]
            if not s[0]:
                raise OSError("Cannot connect to AP")  # wifi_station_connect() fails
            same = ssid is None or (ssid, key) == (s[1], s[2])
            if ssid is not None:
                s[1], s[2] = ssid, key
                _save()
            if not (same and s[3]):
                # wifi_station_connect(): scan, authenticate, associate, DHCP. A
                # station already on (or joining) the same network stays as it is.
                s[4] = time.ticks_add(time.ticks_ms(), ASSOC_MS)
            s[3] = s[1] is not None

    def disconnect(self):
        with _C:
            _ifs[self._if][3] = False

    def status(self, param=None):
        global _seen_down
        with _C:
            if param == "rssi":
                return -55
            s = _ifs[self._if]
            if not s[0] or not s[3]:
                return STAT_IDLE
            if _wifi_down():
                _seen_down = True
                return STAT_NO_AP_FOUND
            if self._if == STA_IF:
                if _seen_down:
                    _seen_down = False
                    back = time.ticks_add(_restored_at(), ASSOC_MS)
                    if time.ticks_diff(back, s[4]) > 0:
                        s[4] = back
                if time.ticks_diff(s[4], time.ticks_ms()) > 0:
                    return STAT_CONNECTING
            return STAT_GOT_IP

    def isconnected(self):
        with _C:
            return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        with _C:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, *args, **kw):
        with _C:
            if args and args[0] == "mac":
                return b"\x5c\xcf\x7f\x00\x00\x01"
            if args and args[0] in ("essid", "ssid"):
                return _ifs[self._if][1] or ""
            return None

    def scan(self):
        with _C:
            return []
