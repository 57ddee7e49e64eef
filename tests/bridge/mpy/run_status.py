# Build the status JSON with every counter at its largest and print it, with the
# heap it took: the drop of gc.mem_free() with the GC off.
import gc

import bridge


class Client:
    # Just what Bridge() and status_json() read of an MQTT backend.
    name = "builtin"

    def stats(self):
        return self._s

    def __init__(self):
        self._s = (1073741823, 1073741823, 1073741823, 1073741823)


app = bridge.Bridge(Client(), "p1", reset_cause=4)
r = app.reader
r.telegrams_ok = r.crc_errors = r.truncated = r.framing = r.garbage = r.overlong = r.bad_values = 1073741823
app.snapshot.superseded = app.wifi_reconnects = 1073741823
app._counters[19] = 1  # _STALLED in bridge.py: the longest liveness text, "no telegram"
app.status_json()  # warm: the first call may intern or size things
app.sample_heap = lambda: None  # it collects, which would hide what status_json allocates
n = before = after = 0  # module globals made before measuring: a new one grows the dict
gc.collect()
gc.disable()
before = gc.mem_free()
n = app.status_json()
after = gc.mem_free()
gc.enable()
print("STATUS", bytes(app._status[:n]).decode(), len(app._status), before - after)
