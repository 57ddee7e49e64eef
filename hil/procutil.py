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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody uses on `host`, for a server started a moment later.
    The race is tiny; the servers the rig starts report a bind failure with their log."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
