"""Child-process hygiene shared by everything the rig starts."""
from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets `sig` when the process that started it dies,
    so a killed test run leaves no broker, rig or interpreter behind."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, sig)
