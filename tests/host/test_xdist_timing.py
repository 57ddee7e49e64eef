"""pytest -n N: the tests marked timing run one at a time, while the other
tests spread over the workers, beside them too (hil.timing_lock)."""
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


def test_timing_tests_run_one_at_a_time_under_xdist(pytester, monkeypatch):
    log = pytester.path / "ran.log"
    monkeypatch.setenv("RAN_LOG", str(log))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           f"--report-dir={pytester.path / 'report'}")
    result.assert_outcomes(passed=12)
    spans = {name: (worker, float(a), float(b)) for name, worker, a, b in
             (line.split() for line in log.read_text().splitlines())}

    def beside(name, kind):
        _w, start, end = spans[name]
        return [n for n, (_w2, a, b) in spans.items() if n != name and n.startswith(kind) and a < end and b > start]

    timing = [n for n in spans if n.startswith("timing")]
    assert len({spans[n][0] for n in timing}) == 2, f"the timing tests all went to one worker anyway: {spans}"
    for name in timing:
        assert not beside(name, "timing"), f"{name} ran beside {beside(name, 'timing')}: {spans}"
    assert any(beside(name, "other") for name in timing), f"the other tests waited for the timing ones: {spans}"
