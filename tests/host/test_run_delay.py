"""hil.procutil.sched_times_ns: how long the kernel kept a process runnable but
off a CPU. The virtual rig sets the P1 line's drops against it (hil/sim/server.py),
so it must see a process that a busy core keeps waiting, and not one that sleeps."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from hil.procutil import sched_times_ns

SPIN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


def _on_cpu0(code: str, nice: int = 0) -> subprocess.Popen:
    def setup():
        os.sched_setaffinity(0, {0})
        os.nice(nice)
    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=setup)


def test_a_process_that_shares_a_busy_core_waits_and_one_that_sleeps_does_not():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    hog = _on_cpu0(SPIN.format(s=1.5))
    starved = _on_cpu0(SPIN.format(s=1.0), nice=19)  # the kernel gives the hog ~98 % of CPU 0
    try:
        time.sleep(0.8)  # the starved one runs in slivers, and each wait is counted when it ends
        _ran, waited = sched_times_ns(starved.pid)
        _ran, slept = sched_times_ns(sleeper.pid)
    finally:
        for p in (hog, starved, sleeper):
            p.kill()
            p.wait()
    assert waited > 300_000_000, waited  # most of 0.8 s spent waiting for CPU 0
    assert slept < 50_000_000, slept


def test_a_process_that_is_gone_has_no_figure():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert sched_times_ns(p.pid) is None
