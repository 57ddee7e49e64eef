"""A failing rig test explains itself: the problems, each board's log with
its path, the emulator's own status, and the broker's log."""
from __future__ import annotations

import json


def test_failure_text_names_problem_logs_emulator_status_and_broker_log(rig, why, broker):
    text = why(["expected 44 values, got 0"])
    assert text.startswith("1 problem(s):\n  - expected 44 values, got 0")
    for title in ("bridge log, last 25 lines", "emulator log, last 25 lines", "emulator status",
                  f"broker log ({broker.log_path})"):
        assert f"--- {title}" in text, f"no {title!r} section in:\n{text}"
    assert str(rig.bridge.log.path) in text and str(rig.emulator.log.path) in text
    status = text.split("--- emulator status ---\n", 1)[1].split("\n", 1)[0]
    assert {"telegrams", "baud", "inverted"} <= set(json.loads(status)), status
