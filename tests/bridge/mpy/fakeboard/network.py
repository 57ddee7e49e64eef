# Stand-in for ESP8266 `network` (boot-flow tests only).
STA_IF = 0


class WLAN:
    def __init__(self, i):
        pass

    def active(self, on=None):
        return True

    def connect(self, ssid, pw):
        pass

    def isconnected(self):
        return False

    def status(self):
        return 0
