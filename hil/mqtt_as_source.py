"""Where the real mqtt_as comes from, and when its absence is a failure.

The tests that run the bridge on Peter Hinch's mqtt_as (pinned 0.8.3) take it
from MQTT_AS_DIR, a directory holding mqtt_as.py. On a developer's machine
without it they skip. Where the run says it should have it, they fail, as the
approximate board fails a run that was given a MicroPython source
(tests/sim/test_virtual_esp8266.py::test_ci_never_runs_the_approximate_board):
MQTT_AS_DIR set (.ci/run sets it; CI need not set CI) but holding no mqtt_as.py,
or CI set at all. Otherwise about nine tests would disappear from CI with no
failure.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

VARIABLE = "MQTT_AS_DIR"


@dataclass(frozen=True)
class Missing:
    """mqtt_as is not there: why, and whether that fails the run."""
    reason: str
    required: bool


def locate(environ: Mapping[str, str] = os.environ) -> Path | Missing:
    """The directory with mqtt_as.py, or why there is none."""
    given = environ.get(VARIABLE)
    in_ci = bool(environ.get("CI"))
    if not given:
        return Missing(f"{VARIABLE} is not set: point it at a directory with mqtt_as.py (mqtt_as 0.8.3, e.g. "
                       "../shared/mqtt_as as .ci/run sets it) to test the bridge with the real mqtt_as"
                       + (" (CI is set: the mqtt_as tests must run)" if in_ci else ""), required=in_ci)
    path = Path(given).expanduser().resolve()
    if not (path / "mqtt_as.py").is_file():
        return Missing(f"{VARIABLE}={given} holds no mqtt_as.py: point it at the directory with mqtt_as.py",
                       required=True)
    return path
