"""Under pytest -n (pytest-xdist), the tests marked timing run one at a time.

Each worker has a virtual rig of its own, but the workers share the machine's
cores. Two scenarios that load the machine and measure time or heap must not
run side by side; a light test beside one is the load a user's PC adds anyway.
A timing test holds the run's timing lock for its whole run (set-up to
teardown), so the timing tests run one after another, as if in a worker of
their own, while the other tests spread over all workers.

Written by hand: xdist's own grouping (--dist loadgroup) would pin them to
one worker, but with pytest-xdist 3.8.0 under pytest 9.2 it groups nothing (it
renames item._nodeid, which pytest 9 no longer reads).
"""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def held(lock_dir: Path) -> Iterator[None]:
    """The run's timing lock in `lock_dir` (one per run, shared by its workers) for the block."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "timing.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
