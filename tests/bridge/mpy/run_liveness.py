# Drive Bridge.liveness() once a (simulated) second, as bridge_main's watchdog
# task does, on a clock of our own: minutes of a stall take milliseconds. The
# MQTT client is a stand-in whose connection and published count the scenario
# sets. Prints the bridge's log, "t=<s> reconnect <why>" when the client is
# told to reconnect, "t=<s> STATUS <json>" after every event and at the end,
# and "t=<s> reset" when liveness() asks for a reset (the harness stops there,
# as the board would).
# usage: run_liveness.py <capture.p1> <scenario> <liveness_s> <seconds>
#   scenario: no_telegram  connected, no telegram ever
#             no_publish   a telegram every 10 s, connected, nothing published
#             healthy      a telegram every 10 s, 3 values published a second
#             broker_down  a telegram every 10 s, never connected
#             recovers     no_publish until the reconnect, then healthy
import sys

import bridge


class Clock:
    # Stands in for the time module in bridge.py: ticks in ms that the harness moves.
    now = 0

    @staticmethod
    def ticks_ms():
        return Clock.now

    @staticmethod
    def ticks_diff(a, b):
        return a - b


class Client:
    # What Bridge() and liveness() read of an MQTT backend.
    name = "builtin"

    def __init__(self):
        self.connected = True
        self.published = 0

    def stats(self):
        return (1, self.published, self.published, 0)

    def isconnected(self):
        return self.connected

    def reconnect(self, why):
        print("t=%d reconnect %s" % (Clock.now // 1000, why))
        events.append("reconnect")


class Out:
    def write(self, b):
        sys.stdout.buffer.write(b)


def status():
    n = app.status_json()
    print("t=%d STATUS %s" % (Clock.now // 1000, bytes(app._status[:n]).decode()))


telegram = open(sys.argv[1], "rb").read()
scenario = sys.argv[2]
liveness_s = int(sys.argv[3])
seconds = int(sys.argv[4])
bridge.time = Clock
events = []
client = Client()
client.connected = scenario != "broker_down"
app = bridge.Bridge(client, "p1", bridge.make_log(Out()), liveness_s=liveness_s)
buf = bytearray(512)
for t in range(1, seconds + 1):
    Clock.now = t * 1000
    if scenario != "no_telegram" and t % 10 == 0:
        app.reader.feed(telegram)
    if scenario == "healthy" or (scenario == "recovers" and events):
        # What the publisher does, at 3 values a second: slower than the meter
        # (44 values every 10 s), so values wait nearly all the time, and the
        # progress the check must see is the published count moving.
        k = 3
        slot = app.snapshot.pending(0)
        while slot >= 0 and k:
            app.snapshot.take(slot, buf)
            client.published += 1
            k -= 1
            slot = app.snapshot.pending(slot + 1)
    n = len(events)
    if app.liveness():
        print("t=%d reset" % t)
        status()
        break
    if len(events) != n:
        status()
else:
    status()
