"""The back-to-back scenarios' heap creep check (hil/tests/test_overflow.py):
it compares the first quarter of a run's heap samples with the last, so a run
with too few samples must say it could not judge, not pass in silence."""
from __future__ import annotations

from hil.oracle.outside import HeapTrace
from hil.tests import scenario
from hil.tests.test_overflow import HEAP_FLAT_MAX, HEAP_SAMPLES_MIN, _heap_creep

BASE = scenario.Baseline(t0=0.0, log_mark=0, status=None, heap_at_rest=None)


class Board:
    def __init__(self, lows: list[int]):
        self.trace = HeapTrace([(float(t), low + 500, low, t) for t, low in enumerate(lows, 1)])

    def heap(self, after: float):
        return self.trace


class NoMessages:
    def snapshot(self):
        return []


def test_a_flat_heap_passes():
    assert _heap_creep(BASE, Board([20000] * 16), NoMessages()) is None


def test_a_creeping_heap_is_reported():
    lows = [20000 - 100 * k for k in range(16)]  # 1.5 KB lost over the run
    said = _heap_creep(BASE, Board(lows), NoMessages())
    assert said is not None and said.startswith("free heap sank from ") and f"more than {HEAP_FLAT_MAX} B" in said


def test_too_few_samples_is_reported_not_passed():
    lows = [20000 - 1000 * k for k in range(HEAP_SAMPLES_MIN - 1)]  # creeping, but too short to tell
    said = _heap_creep(BASE, Board(lows), NoMessages())
    assert said == (f"heap creep not judged: {HEAP_SAMPLES_MIN - 1} board heap samples after collections during "
                    f"the run, at least {HEAP_SAMPLES_MIN} needed to compare its first quarter with its last")
