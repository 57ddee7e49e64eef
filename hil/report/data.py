"""What one test run measured and how each test ended, as plain JSON-able data.

Tests feed it through the `report_data` fixture (hil/report/plugin.py); the
plugin adds every test's outcome. Times given to `add_status`/`add_event` are
host `time.monotonic()` seconds (what `hil.net.message.Message.at` carries); the
report plots them relative to each test's first sample, so only differences
matter. Thread-safe: a rig's player thread may record while the test waits.
"""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any, Iterable

FORMAT = "p1-hil-report"
VERSION = 1


class ReportDataError(Exception):
    """Bad input to the recorder, or a data.json this code cannot read."""


def _jsonable(value: Any) -> Any:
    """`value` if JSON can carry it unchanged, else its repr."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ReportDataError(f"{what} must be a finite number, got {value!r}")
    return float(value)


class ReportData:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.run: dict[str, Any] = {}                      # start/end, args, exit status, junit path
        self.latencies: dict[str, list[float]] = {}        # test id → seconds, one per telegram
        self.status: dict[str, list[list]] = {}            # test id → [[at, {status}], ...]
        self.events: dict[str, list[list]] = {}            # test id → [[at, text], ...]
        self.figures: list[dict[str, Any]] = []            # {name, value, unit, test}
        self.tests: dict[str, dict[str, Any]] = {}         # node id → outcome record (plugin)

    # --- what tests call ---

    def add_latency(self, test_id: str, seconds: float) -> None:
        """One end-to-end latency (telegram's last byte out → last value in), in seconds."""
        s = _number(seconds, "latency")
        with self._lock:
            self.latencies.setdefault(str(test_id), []).append(s)

    def add_latencies(self, test_id: str, seconds: Iterable[float]) -> None:
        for s in seconds:
            self.add_latency(test_id, s)

    def add_status(self, test_id: str, at: float, status: dict[str, Any]) -> None:
        """One `<base>/status` sample (decoded JSON) that arrived at host time `at`."""
        if not isinstance(status, dict):
            raise ReportDataError(f"status must be a dict (the decoded <base>/status JSON), got {type(status).__name__}")
        at = _number(at, "status time")
        with self._lock:
            self.status.setdefault(str(test_id), []).append([at, {str(k): _jsonable(v) for k, v in status.items()}])

    def add_event(self, test_id: str, at: float, text: str) -> None:
        """Something the test did at host time `at` ("broker paused"): a vertical line on its plots."""
        at = _number(at, "event time")
        with self._lock:
            self.events.setdefault(str(test_id), []).append([at, str(text)])

    def add_figure(self, name: str, value: Any, unit: str = "", test_id: str | None = None) -> None:
        """A single number worth a row in the report's figures table."""
        with self._lock:
            self.figures.append({"name": str(name), "value": _jsonable(value), "unit": str(unit),
                                 "test": None if test_id is None else str(test_id)})

    # --- what the plugin calls ---

    def set_test(self, nodeid: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.tests[nodeid] = record

    def test(self, nodeid: str) -> dict[str, Any] | None:
        with self._lock:
            return self.tests.get(nodeid)

    # --- derived ---

    def all_latencies_ms(self) -> list[float]:
        with self._lock:
            return [s * 1000 for values in self.latencies.values() for s in values]

    def outcome_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for t in self.tests.values():
                counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        return counts

    # --- persistence ---

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps({
                "format": FORMAT, "version": VERSION, "run": self.run, "latencies": self.latencies,
                "status": self.status, "events": self.events, "figures": self.figures,
                "tests": list(self.tests.values()),
            }, default=repr))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReportData":
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ReportDataError(f"not a {FORMAT} v{VERSION} data file (format {d.get('format')!r}, "
                                  f"version {d.get('version')!r})")
        data = cls()
        data.run = dict(d.get("run", {}))
        data.latencies = {k: [float(x) for x in v] for k, v in d.get("latencies", {}).items()}
        data.status = {k: [list(x) for x in v] for k, v in d.get("status", {}).items()}
        data.events = {k: [list(x) for x in v] for k, v in d.get("events", {}).items()}
        data.figures = list(d.get("figures", []))
        data.tests = {t["nodeid"]: t for t in d.get("tests", [])}
        return data

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "ReportData":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ReportDataError(f"cannot read report data {path}: {e}") from e
