"""hil/report/render.py: a report from synthetic data opens with its plots.

The page is rendered headless by Chromium (Debian's `chromium`, installed by
scripts/bootstrap) to a PNG, and the screenshot is checked: right size, not
blank, and the latency histogram's bars at the top of the page.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hil.report import ReportData, ReportDataError
from hil.cli.report import main as report_main
from hil.report.render import HIST_COLOR, render, split_status_keys

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1200, 1600
OVERFLOW = "hil/tests/test_overflow.py::test_stalled_broker_bounded_supersedes_and_recovers"
REPLAY = "hil/tests/test_replay.py::test_each_capture_replayed_three_times_matches_oracle[sx631_aux_3ph.p1]"


def synthetic() -> ReportData:
    data = ReportData()
    data.run.update(started="2025-01-01T12:00:00", duration_s=93.5, rig="sim", junit="junit.xml")
    for i in range(60):  # a skewed latency distribution, 60 telegrams
        data.add_latency(REPLAY, 0.040 + (i % 12) * 0.004 + (0.150 if i % 20 == 0 else 0))
    t0 = 5000.0  # monotonic seconds, as Message.at carries
    ok = 0
    for i in range(40):  # one status sample every 2.5 s; broker stalled from 20 s to 80 s
        at = t0 + i * 2.5
        stalled = 20 <= i * 2.5 < 80
        ok += 9
        data.add_status(OVERFLOW, at, {"heap_free": 21000 - (3000 if stalled else 0) - (i % 3) * 100,
                                       "heap_min_free": 17500 if i > 8 else 19000, "telegrams_ok": ok,
                                       "crc_errors": 1 if i > 30 else 0, "superseded": (i - 8) * 4 if stalled else
                                       (0 if i < 8 else 96), "uptime_s": 300 + i * 2.5, "fw": "1.0"})
    data.add_event(OVERFLOW, t0 + 20, "broker paused")
    data.add_event(OVERFLOW, t0 + 80, "broker resumed")
    data.add_figure("bridge reader CPU per telegram", 41.5, "ms")
    data.set_test(REPLAY, {"nodeid": REPLAY, "outcome": "passed", "duration": 12.3, "longrepr": "",
                           "sections": [], "properties": [["latency_ms", [40.1, 44.0, 190.2]]]})
    data.set_test(OVERFLOW, {"nodeid": OVERFLOW, "outcome": "failed", "duration": 95.0,
                             "longrepr": "AssertionError: 1 problem(s):\n  - superseded stayed at 0\n\n"
                                         "--- bridge log, last 25 lines ---\nbridge: telegram ok <script>",
                             "sections": [["Captured stdout call", "bridge: queue full, superseding\n"]],
                             "properties": []})
    data.set_test("tests/x.py::test_skip", {"nodeid": "tests/x.py::test_skip", "outcome": "skipped",
                                            "duration": 0.0, "longrepr": "", "sections": [], "properties": []})
    return data


def screenshot(html: Path, png: Path, tmp_path: Path) -> None:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
           f"--window-size={WIDTH},{HEIGHT}", html.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and png.is_file(), (
        f"chromium exited {done.returncode}, screenshot {'written' if png.is_file() else 'missing'}\n"
        f"command: {' '.join(cmd)}\nstderr tail:\n{done.stderr[-3000:]}")


def test_page_is_self_contained_and_opens_with_the_plots(tmp_path):
    html = render(synthetic(), tmp_path).read_text()
    imgs = [m.start() for m in re.finditer(r"<img ", html)]
    assert len(imgs) == 2, "one latency histogram and one status plot"
    assert imgs[0] < html.index('id="figures"') < html.index('id="results-table"') < html.index('id="failures"')
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no network resources"
    assert "<script" not in html.replace("&lt;script&gt;", ""), "failure text is escaped"
    assert "superseded stayed at 0" in html and "queue full, superseding" in html
    assert "broker paused" not in html.split('id="figures"')[0].replace("alt=", ""), "events are drawn, not listed"
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert len(names) == 2 and names[0] == "latency_histogram.png", names
    assert names[1].startswith("status_") and "test_stalled_broker" in names[1], names


def test_status_fields_are_split_into_heap_and_counters():
    heap, counters = split_status_keys(synthetic().status[OVERFLOW])
    assert heap == ["heap_free", "heap_min_free"]
    assert counters == ["telegrams_ok", "crc_errors", "superseded"]  # not uptime_s, not the string "fw"


def test_data_json_round_trip_and_hil_report_renders_again(tmp_path, capsys):
    data = synthetic()
    data.save(tmp_path / "data.json")
    again = ReportData.load(tmp_path / "data.json")
    assert again.to_dict() == data.to_dict()
    assert report_main(["report", str(tmp_path), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.html").is_file()
    assert report_main(["report", str(tmp_path / "again" / "plots")]) == 2
    assert "no data.json" in capsys.readouterr().err


def test_bad_input_is_refused(tmp_path):
    data = ReportData()
    with pytest.raises(ReportDataError):
        data.add_latency("t", float("nan"))
    with pytest.raises(ReportDataError):
        data.add_status("t", 1.0, '{"heap_free": 1}')
    (tmp_path / "data.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ReportDataError, match="not a p1-hil-report"):
        ReportData.load(tmp_path / "data.json")


def test_empty_run_renders(tmp_path):
    html = render(ReportData(), tmp_path).read_text()
    assert "No latencies and no bridge status samples" in html and "No test results recorded" in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless rendering needs Debian's chromium at /usr/bin/chromium "
                                                  "(scripts/bootstrap installs it: apt-get install chromium)")
def test_headless_chromium_shows_the_plots_at_the_top(tmp_path):
    import numpy as np  # numpy and pillow come with matplotlib
    from PIL import Image

    html = render(synthetic(), tmp_path / "report")
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path)

    img = Image.open(png).convert("RGB")
    assert img.size == (WIDTH, HEIGHT)
    px = np.asarray(img, dtype=np.int16)  # rows × columns × RGB
    white = int(np.all(px >= 250, axis=2).sum())
    assert white < 0.97 * WIDTH * HEIGHT, f"page is (nearly) blank: {white} of {WIDTH * HEIGHT} pixels white"
    assert px.std() > 20, f"no contrast in {png}"

    def near(region, rgb, tol):
        return int(np.all(np.abs(region - np.array(rgb)) <= tol, axis=2).sum())

    # The first plot, the latency histogram, sits right under the one-line
    # summary: its bars (HIST_COLOR) must fill a good area of the top 500 px.
    bar = tuple(int(HIST_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    bar_pixels = near(px[:500], bar, 12)
    assert bar_pixels > 5000, f"only {bar_pixels} histogram-bar pixels in the top 500 px of {png}"
    # The status plot follows below it: its second line is matplotlib's C1 orange,
    # a colour only that plot uses.
    orange_pixels = near(px[400:], (255, 127, 14), 20)
    assert orange_pixels > 200, f"status plot not visible below the histogram in {png} ({orange_pixels} orange px)"
