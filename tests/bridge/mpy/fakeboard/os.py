# Stand-in for the ESP8266 `os` additions (boot-flow tests only): the unix port's
# os plus dupterm, which records the call.
from uos import *  # noqa: F401,F403


def dupterm(obj, idx=0):
    print("fake: dupterm(%r, %d)" % (obj, idx))
