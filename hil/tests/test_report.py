"""The run report plugin (hil/report/plugin.py), tested on inner pytest sessions.

Each test runs a tiny suite with the plugin and checks what the run left in
its report directory: JUnit XML, data.json and report.html with plots first.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

# Imported here, outside the inner sessions: pytester restores sys.modules after
# each in-process run, and numpy cannot be imported twice in one process.
import hil.report.render  # noqa: F401

pytest_plugins = ["pytester"]

INNER = '''
import time
import pytest

def test_latencies(report_data, request, record_property):
    report_data.add_latency(request.node.nodeid, 0.120)
    report_data.add_latencies(request.node.nodeid, [0.080, 0.095])
    record_property("latency_ms", [50.0, 61.5])

def test_overflow_status(report_data, request):
    t0 = time.monotonic()
    for i in range(10):
        report_data.add_status(request.node.nodeid, t0 + i, {
            "heap_free": 20000 - 100 * i, "heap_min_free": 18000, "telegrams_ok": 10 * i,
            "crc_errors": 0, "superseded": max(0, i - 4), "uptime_s": 100 + i})
    report_data.add_event(request.node.nodeid, t0 + 3, "broker paused")
    report_data.add_event(request.node.nodeid, t0 + 6, "broker resumed")
    report_data.add_figure("heap_min_free during stall", 18000, "B", test_id=request.node.nodeid)

def test_fails_with_a_log():
    print("bridge: queue full, superseding telegram 17")
    assert 1 == 2, "superseded stayed at 0\\n--- bridge log ---\\nbridge: telegram ok"

@pytest.mark.skip(reason="needs two real boards")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("rig did not come up")

def test_setup_error(broken):
    pass
'''


# The report plugin comes with the package (entry point p1hil-report), as for any
# user; the rig's own plugin (p1hil) is left out: these inner suites need no rig.
PLUGINS = ("-p", "no:p1hil", "-p", "no:cacheprovider")


def _run(pytester, *args):
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest(*PLUGINS, *args)


def test_report_dir_has_junit_data_and_html_with_plots_first(pytester):
    out = pytester.path / "out"
    result = _run(pytester, f"--report-dir={out}")
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)
    result.stdout.fnmatch_lines([f"hil report: {out}*report.html*"])

    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "1", "1")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["latency_ms"] == "[50.0, 61.5]"

    data = json.loads((out / "data.json").read_text())
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {"test_latencies": "passed", "test_overflow_status": "passed", "test_fails_with_a_log": "failed",
                        "test_skipped": "skipped", "test_setup_error": "error"}
    (lat_id, seconds), = data["latencies"].items()
    assert sorted(round(s * 1000, 1) for s in seconds) == [50.0, 61.5, 80.0, 95.0, 120.0]  # fixture + record_property
    (status_id, samples), = data["status"].items()
    assert len(samples) == 10 and [e[1] for e in data["events"][status_id]] == ["broker paused", "broker resumed"]
    assert data["run"]["junit"] == "junit.xml" and data["run"]["exitstatus"] == 1

    html = (out / "report.html").read_text()
    imgs = [m.start() for m in re.finditer(r'<img [^>]*src="data:image/png;base64,', html)]
    assert len(imgs) == 2, "latency histogram and the overflow test's status plot"
    assert imgs[-1] < html.index('id="results-table"'), "plots come before the results table"
    failure = html[html.index('id="failures"'):]
    assert "superseded stayed at 0" in failure and "bridge: telegram ok" in failure
    assert "bridge: queue full, superseding telegram 17" in failure, "captured output of the failing test"
    assert "rig did not come up" in failure
    assert {p.name for p in (out / "plots").iterdir()} >= {"latency_histogram.png"}


def test_default_dir_under_rootdir_and_given_junitxml_is_respected(pytester):
    junit = pytester.path / "elsewhere" / "results.xml"
    result = _run(pytester, f"--junitxml={junit}", "-k", "latencies")
    result.assert_outcomes(passed=1)
    runs = list((pytester.path / "reports").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"\d{8}-\d{6}", runs[0].name), runs
    assert junit.is_file() and not (runs[0] / "junit.xml").exists()
    assert json.loads((runs[0] / "data.json").read_text())["run"]["junit"] == str(junit)
    assert (runs[0] / "report.html").is_file()
    result.stdout.fnmatch_lines([f"hil report: {runs[0]}*"])


def test_hil_report_renders_a_saved_run_again(pytester):
    out = pytester.path / "out"
    _run(pytester, f"--report-dir={out}", "-k", "overflow")
    (out / "report.html").unlink()
    from hil.cli.report import main

    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert html.count("<img ") == 1 and "test_overflow_status" in html


def test_collect_only_writes_no_report(pytester):
    result = _run(pytester, "--collect-only", "-q")
    assert result.ret == 0
    assert not (pytester.path / "reports").exists()


def test_a_report_that_cannot_be_rendered_fails_the_run_loudly(pytester, monkeypatch):
    def boom(data, out_dir):
        raise OSError("disk full")

    monkeypatch.setattr(hil.report.render, "render", boom)
    out = pytester.path / "out"
    result = _run(pytester, f"--report-dir={out}", "-k", "latencies")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*hil report: rendering FAILED*", "OSError: disk full",
                                 f"hil report: data kept in {out}/data.json*"])
    assert (out / "data.json").is_file() and (out / "junit.xml").is_file()


def test_a_bad_latency_property_is_noted_not_fatal(pytester):
    pytester.makepyfile(test_bad="def test_bad(record_property):\n    record_property('latency_ms', ['fast'])\n")
    out = pytester.path / "out"
    result = pytester.runpytest(*PLUGINS, f"--report-dir={out}")
    result.assert_outcomes(passed=1)
    (test,) = json.loads((out / "data.json").read_text())["tests"]
    assert any(name == "report" and "latency_ms not plotted" in text for name, text in test["properties"])


def test_loaded_from_its_entry_point_with_the_rig_plugin_as_installed(pytester):
    """No conftest, no -p: pytest finds both plugins through the package's entry
    points, as in a bridge's own repository."""
    pytester.makepyfile(test_inner=INNER)
    out = pytester.path / "out"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--report-dir={out}", "-k", "latencies or overflow")
    result.assert_outcomes(passed=2)
    assert ET.parse(out / "junit.xml").getroot().find("testsuite").get("tests") == "2"
    assert (out / "report.html").read_text().count("<img ") == 2


def test_under_xdist_the_workers_measurements_reach_the_one_report(pytester):
    """`pytest -n 2`: each worker's report_data calls travel with its tests'
    reports; the controller writes one report with all of them."""
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(*PLUGINS, "-p", "xdist", "-n", "2", f"--report-dir={out}",
                                           pytester.makepyfile(test_inner=INNER))
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)
    data = json.loads((out / "data.json").read_text())
    (status_id, samples), = data["status"].items()
    assert status_id.endswith("test_overflow_status") and len(samples) == 10
    assert [e[1] for e in data["events"][status_id]] == ["broker paused", "broker resumed"]
    (lat_id, seconds), = data["latencies"].items()
    assert sorted(round(s * 1000, 1) for s in seconds) == [50.0, 61.5, 80.0, 95.0, 120.0]
    assert [f["name"] for f in data["figures"]] == ["heap_min_free during stall"]
    (props,) = [t["properties"] for t in data["tests"] if t["nodeid"].endswith("test_latencies")]
    assert [name for name, _ in props] == ["latency_ms"], "the forwarded calls are not a property of the test"
