# Stand-in for ESP8266 `network` (main.py tests only).
STA_IF = 0
UP = False  # what isconnected() answers


class WLAN:
    def __init__(self, i):
        pass

    def active(self, on=None):
        return True

    def connect(self, ssid, pw):
        pass

    def isconnected(self):
        return UP

    def status(self):
        return 5 if UP else 0
