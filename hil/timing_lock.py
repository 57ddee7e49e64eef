"""Under pytest -n (pytest-xdist), a test marked timing runs with no other test beside it.

Each worker has a virtual rig of its own, but the workers share the machine's
cores, and a scenario that measures time or heap must not share them. Every
test of a run holds the run's lock shared; a timing test holds it exclusively.
A turnstile lets a waiting timing test in before the tests that ask after it
(flock alone would let a stream of shared holders starve it).

Written by hand: xdist's own grouping (--dist loadgroup) keeps a group in one
worker but not apart from the other workers' tests, and with pytest-xdist
3.8.0 under pytest 9.2 it groups nothing (it renames item._nodeid, which
pytest 9 no longer reads).
"""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def held(lock_dir: Path, exclusive: bool) -> Iterator[None]:
    """The run's lock in `lock_dir` (one per run, shared by its workers) for the block."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "turnstile.lock", "a") as turnstile, open(lock_dir / "tests.lock", "a") as tests:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(tests, fcntl.LOCK_EX)  # the running tests finish; newcomers wait at the turnstile
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(tests, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(tests, fcntl.LOCK_UN)
