"""The status JSON: built without allocating, and its buffer holds the longest
one the counters can give (every counter at the largest small int, the longest
liveness text)."""
import json

from conftest import run_mpy


def test_status_json_allocates_nothing_and_fits_its_buffer_at_the_largest_counters():
    out = run_mpy("run_status.py")
    line = next(l for l in out.splitlines() if l.startswith("STATUS "))
    text, size, allocated = line[len("STATUS "):].rsplit(" ", 2)
    status = json.loads(text)
    assert status["telegrams_ok"] == status["mqtt_lost"] == 1073741823
    assert status["mqtt_reconnects"] == 1073741822 and status["reset_cause"] == 4
    assert status["version"] and status["mqtt_backend"] == "builtin"
    assert status["liveness"] == "no telegram"
    assert len(text) <= int(size), (len(text), size)
    assert int(allocated) == 0, f"status_json() allocated {allocated} B"
