"""pytest plugin: a report per run in --report-dir (default reports/<timestamp>/).

Register it from the root conftest.py with `pytest_plugins = ["hil.report.plugin"]`
(or per run with `-p hil.report.plugin`; switch it off with `-p no:hil.report.plugin`).

Each run writes junit.xml (unless --junitxml points elsewhere), data.json and
report.html with plots/. Tests feed measurements through the session-scoped
`report_data` fixture (a hil.report.data.ReportData); `record_property` values
are kept per test, and `latency_ms` / `latency_s` properties (a number or a
list) also feed the latency histogram. Failing tests keep their failure text
and captured output (stdout, stderr, log) in the report.

Under pytest-xdist, a worker's `report_data` records each call and sends the
calls with the test's report (a user property, FORWARDED); the controller
replays them into the one report it writes.
"""
from __future__ import annotations

import time
import traceback
from datetime import datetime
from pathlib import Path

import pytest

from .data import ReportData, ReportDataError

RECORDER = pytest.StashKey["ReportRecorder"]()
# What the run's figures about the board stand for (hil.sim.model.describe_rig):
# the rig's conftest puts the lines here, the report shows them under its title.
BOARD_LINES = pytest.StashKey[list]()
LATENCY_PROPERTIES = {"latency_ms": 1e-3, "latency_s": 1.0}  # record_property name → seconds per unit


def pytest_addoption(parser):
    group = parser.getgroup("hil-report", "P1 HIL run report")
    group.addoption("--report-dir", metavar="DIR", default=None,
                    help="where this run's report goes: junit.xml, report.html, plots/, data.json "
                         "(default: reports/<timestamp>/ under the rootdir)")


def default_report_dir(root: Path) -> Path:
    base = root / "reports" / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@pytest.hookimpl(tryfirst=True)  # before junitxml's pytest_configure reads xmlpath
def pytest_configure(config):
    if hasattr(config, "workerinput") or config.option.collectonly or getattr(config.option, "help", False):
        return
    given = config.getoption("--report-dir")
    out = Path(given).resolve() if given else default_report_dir(config.rootpath)
    if not config.option.xmlpath:
        config.option.xmlpath = str(out / "junit.xml")
    rec = ReportRecorder(config, ReportData(), out)
    config.stash[RECORDER] = rec
    config.pluginmanager.register(rec, "hil-report-recorder")


def pytest_unconfigure(config):
    rec = config.stash.get(RECORDER, None)
    if rec is not None:
        config.pluginmanager.unregister(rec)
        del config.stash[RECORDER]


def report_dir(config: pytest.Config) -> Path | None:
    """This run's report directory; None when no report is written (--collect-only)."""
    rec = config.stash.get(RECORDER, None)
    return rec.out if rec else None


FORWARDED = "hil-report-calls"  # user property: a worker's report_data calls, replayed by the controller


class _WorkerReportData(ReportData):
    """A pytest-xdist worker's report_data: checks each call as the real one
    does (a bad value fails the test here) and keeps it until the test's report
    carries it to the controller. add_latencies goes through add_latency."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list] = []

    def add_latency(self, test_id, seconds):
        super().add_latency(test_id, seconds)
        self.calls.append(["add_latency", [str(test_id), float(seconds)]])

    def add_status(self, test_id, at, status):
        super().add_status(test_id, at, status)
        self.calls.append(["add_status", [str(test_id), float(at), self.status[str(test_id)][-1][1]]])

    def add_event(self, test_id, at, text):
        super().add_event(test_id, at, text)
        self.calls.append(["add_event", [str(test_id), float(at), str(text)]])

    def add_figure(self, name, value, unit="", test_id=None):
        super().add_figure(name, value, unit, test_id)
        f = self.figures[-1]
        self.calls.append(["add_figure", [f["name"], f["value"], f["unit"], f["test"]]])


_WORKER_DATA = pytest.StashKey[_WorkerReportData]()


@pytest.fixture(scope="session")
def report_data(pytestconfig) -> ReportData:
    """The run's recorder: add_latency(test_id, s), add_status(test_id, at, status),
    add_event(test_id, at, text), add_figure(name, value, unit). Use
    `request.node.nodeid` as test_id. Without a report (--collect-only) it records into the void."""
    if hasattr(pytestconfig, "workerinput"):
        return pytestconfig.stash.setdefault(_WORKER_DATA, _WorkerReportData())
    rec = pytestconfig.stash.get(RECORDER, None)
    return rec.data if rec else ReportData()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On an xdist worker: the test's report_data calls go with its teardown report."""
    outcome = yield
    data = item.config.stash.get(_WORKER_DATA, None)
    if call.when == "teardown" and data is not None and data.calls:
        outcome.get_result().user_properties.append((FORWARDED, data.calls))
        data.calls = []


# --- the recorder plugin: outcomes in, report out ---

def _outcome(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when != "call" and report.failed:
        return "error"
    return report.outcome


def _plain(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, list, dict, tuple))


class ReportRecorder:
    """Registered per run by pytest_configure; keeps every test's outcome in the
    ReportData and writes the report at the end of the session."""

    def __init__(self, config: pytest.Config, data: ReportData, out: Path):
        self.config, self.data, self.out = config, data, out
        self.started = time.time()
        self.html: Path | None = None
        self.error: str | None = None

    def pytest_runtest_logreport(self, report):
        rec = self.data.test(report.nodeid) or {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0,
                                                "longrepr": "", "sections": [], "properties": []}
        rec["duration"] += float(report.duration or 0.0)
        outcome = _outcome(report)
        if report.when == "call" or (report.when == "setup" and outcome != "passed"):
            rec["outcome"] = outcome
        elif report.when == "teardown" and report.failed and rec["outcome"] != "failed":
            rec["outcome"] = "error"
        if report.failed:
            label = "" if report.when == "call" else f"[error in {report.when}]\n"
            rec["longrepr"] = (rec["longrepr"] + "\n\n" if rec["longrepr"] else "") + label + report.longreprtext
            seen = {title for title, _ in rec["sections"]}
            rec["sections"] += [[title, content] for title, content in report.sections if title not in seen]
        elif report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
            rec["skip_reason"] = report.longrepr[2]
        if report.when == "teardown":
            self._properties(report, rec)
        self.data.set_test(report.nodeid, rec)

    def _properties(self, report, rec) -> None:
        rec["properties"] = [[n, v if _plain(v) else repr(v)] for n, v in report.user_properties if n != FORWARDED]
        for name, value in report.user_properties:
            if name == FORWARDED:
                for method, args in value:
                    getattr(self.data, method)(*args)
                continue
            scale = LATENCY_PROPERTIES.get(name)
            if scale is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                try:
                    self.data.add_latencies(report.nodeid, [v * scale for v in values])
                except (ReportDataError, TypeError) as e:  # a test's bad property must not crash the run
                    rec["properties"].append(["report", f"{name} not plotted: {e}"])

    def pytest_collectreport(self, report):
        if report.failed:
            nodeid = report.nodeid or "<collection>"
            self.data.set_test(nodeid, {"nodeid": nodeid, "outcome": "error", "duration": 0.0,
                                        "longrepr": "[collection error]\n" + report.longreprtext,
                                        "sections": [list(s) for s in report.sections], "properties": []})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        config = self.config
        xml = Path(config.option.xmlpath).resolve() if config.option.xmlpath else None
        self.data.run.update({
            "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - self.started, 3),
            "exitstatus": int(exitstatus),
            "args": list(config.invocation_params.args),
            "rootdir": str(config.rootpath),
            "rig": config.getoption("--rig", default=None),
            "board": config.stash.get(BOARD_LINES, []),
            "junit": (str(xml.relative_to(self.out)) if xml.is_relative_to(self.out) else str(xml)) if xml else None,
        })
        try:
            self.data.save(self.out / "data.json")
            from .render import render  # matplotlib only when a report is written
            self.html = render(self.data, self.out)
        except Exception:  # noqa: BLE001 - shown in the summary and fails the run, not swallowed
            self.error = traceback.format_exc()
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if self.error:
            terminalreporter.write_sep("-", "hil report: rendering FAILED", red=True)
            terminalreporter.write_line(self.error)
            terminalreporter.write_line(f"hil report: data kept in {self.out / 'data.json'}; "
                                        f"render again with: hil report {self.out}")
        elif self.html:
            terminalreporter.write_sep("-", "hil report")
            terminalreporter.write_line(f"hil report: {self.out}  (open {self.html})")
