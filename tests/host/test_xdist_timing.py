"""pytest -n N: no test runs beside a test marked timing, while the other
tests still spread over the workers (hil.timing_lock)."""
from __future__ import annotations

pytest_plugins = ["pytester"]

INNER = '''
import os
import time
import pytest

def _work(name):
    start = time.monotonic()
    time.sleep(0.3)  # the test's work: long enough for a neighbour to overlap it if it could
    with open(os.environ["RAN_LOG"], "a") as f:
        f.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']} {start} {time.monotonic()}\\n")

@pytest.mark.timing
@pytest.mark.parametrize("i", range(3))
def test_scenario(i):
    _work(f"timing{i}")

@pytest.mark.parametrize("i", range(9))
def test_other(i):
    _work(f"other{i}")
'''


def test_no_test_runs_beside_a_timing_test_under_xdist(pytester, monkeypatch):
    log = pytester.path / "ran.log"
    monkeypatch.setenv("RAN_LOG", str(log))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           f"--report-dir={pytester.path / 'report'}")
    result.assert_outcomes(passed=12)
    ran = [line.split() for line in log.read_text().splitlines()]
    spans = {name: (worker, float(a), float(b)) for name, worker, a, b in ran}
    for name, (_w, start, end) in spans.items():
        if name.startswith("timing"):
            beside = [n for n, (_w2, a, b) in spans.items() if n != name and a < end and b > start]
            assert not beside, f"{name} ran beside {beside}: {spans}"
    others = [(w, a, b) for n, (w, a, b) in spans.items() if n.startswith("other")]
    assert len({w for w, _a, _b in others}) == 2, f"the other tests did not spread over both workers: {spans}"
    overlapping = [(x, y) for x in others for y in others if x[0] < y[0] and x[1] < y[2] and x[2] > y[1]]
    assert overlapping, f"no two other tests ran side by side: -n 2 bought nothing: {spans}"
