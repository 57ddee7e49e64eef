"""Child-process hygiene shared by everything the rig starts."""
from __future__ import annotations

import ctypes
import signal
import socket

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets `sig` when the process that started it dies,
    so a killed test run leaves no broker, rig or interpreter behind."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, sig)


def sched_times_ns(pid: int) -> tuple[int, int] | None:
    """(time on a CPU, time runnable but waiting for one) of process `pid` since
    it started, in ns, from the kernel's /proc/PID/schedstat; None if it is gone.
    A wait is added when it ends (the process gets a CPU), not while it lasts."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            ran, waited = f.read().split()[:2]
        return int(ran), int(waited)
    except (OSError, ValueError):
        return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody uses on `host`, for a server started a moment later.
    The race is tiny; the servers the rig starts report a bind failure with their log."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
