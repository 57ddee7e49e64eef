"""ESP8266 `network` for the virtual rig: a station interface that associates at
once (the host's loopback is the "LAN"); WiFi loss is injected by the rig."""
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


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self._if = interface_id
        self._active = interface_id == STA_IF
        self._ssid = None

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)

    def connect(self, ssid=None, key=None, *, bssid=None):
        self._ssid = ssid

    def disconnect(self):
        self._ssid = None

    def status(self, param=None):
        if param == "rssi":
            return -55
        if not self._active or self._ssid is None:
            return STAT_IDLE
        return STAT_NO_AP_FOUND if _wifi_down() else STAT_GOT_IP

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, *args, **kw):
        if args and args[0] == "mac":
            return b"\x5c\xcf\x7f\x00\x00\x01"
        if args and args[0] == "essid":
            return self._ssid or ""
        return None

    def scan(self):
        return []
