"""ReportData → report.html: the plots first, then figures, outcomes, failures.

The page is self-contained (CSS inline, plots as PNG data URIs; no script, no
network resource), so it can be mailed, attached to CI or opened from a USB
stick. The same PNGs are written to plots/ beside it for slides and issues.
matplotlib is used through its object API on the Agg canvas: no pyplot, no
global backend switch, safe to call from a pytest hook.
"""
from __future__ import annotations

import base64
import html
import io
import re
import statistics
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data import ReportData

HIST_COLOR = "#1f77b4"          # the latency histogram's bars (tests look for it in a screenshot)
EVENT_COLOR = "#d62728"
OUTCOME_COLORS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#cf222e", "skipped": "#9a6700",
                  "xfailed": "#9a6700", "xpassed": "#cf222e"}
SECTION_LIMIT = 60_000          # characters of one captured section shown in the page (tail kept)
DPI = 100


# --- plots ---

def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def latency_histogram(latencies_ms: list[float]) -> bytes:
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.add_subplot()
    bins = max(5, min(50, len(latencies_ms) // 2 or 1))
    ax.hist(latencies_ms, bins=bins, color=HIST_COLOR, edgecolor="white", linewidth=0.5)
    med = statistics.median(latencies_ms)
    p95 = sorted(latencies_ms)[max(0, round(0.95 * len(latencies_ms)) - 1)]
    for x, label, style in ((med, f"median {med:.3g} ms", "--"), (p95, f"p95 {p95:.3g} ms", ":")):
        ax.axvline(x, color="black", linestyle=style, linewidth=1, label=label)
    ax.set_title(f"End-to-end latency, end of telegram on the P1 line → last value at the subscriber "
                 f"({len(latencies_ms)} telegrams, max {max(latencies_ms):.3g} ms)", fontsize=10)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("telegrams")
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def split_status_keys(samples: list[list]) -> tuple[list[str], list[str]]:
    """(heap keys, counter keys) among the numeric fields of the status samples.
    heap_* go on the heap panel; uptime_s is a clock, not a counter."""
    keys: dict[str, None] = {}
    for _at, status in samples:
        for k, v in status.items():
            if _is_number(v):
                keys.setdefault(k)
    heap = [k for k in keys if k.startswith("heap")]
    counters = [k for k in keys if not k.startswith("heap") and k not in ("uptime_s", "uptime_ms")]
    return heap, counters


def status_plot(test_id: str, samples: list[list], events: list[list]) -> bytes:
    """Bridge heap and counters over time for one test, events as vertical lines."""
    samples = sorted(samples, key=lambda s: s[0])
    events = sorted(events, key=lambda e: e[0])
    t0 = min([s[0] for s in samples] + [e[0] for e in events])
    heap_keys, counter_keys = split_status_keys(samples)
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    ax_heap, ax_cnt = fig.subplots(2, 1, sharex=True)
    fig.suptitle(f"Bridge status over time: {test_id}", fontsize=10)

    def series(key):
        pts = [(at - t0, st[key]) for at, st in samples if _is_number(st.get(key))]
        return [p[0] for p in pts], [p[1] for p in pts]

    for key in heap_keys:
        xs, ys = series(key)
        ax_heap.plot(xs, [y / 1024 for y in ys], marker=".", markersize=4, label=key, drawstyle="steps-post")
    ax_heap.set_ylabel("heap (KiB)")
    ax_heap.set_ylim(bottom=0)
    for key in counter_keys:
        xs, ys = series(key)
        ax_cnt.plot(xs, ys, marker=".", markersize=4, label=key, drawstyle="steps-post")
    ax_cnt.set_yscale("symlog", linthresh=1)
    ax_cnt.set_ylabel("count (symlog)")
    ax_cnt.set_xlabel("time since first sample (s)")
    for ax, keys in ((ax_heap, heap_keys), (ax_cnt, counter_keys)):
        for at, _text in events:
            ax.axvline(at - t0, color=EVENT_COLOR, linestyle="--", linewidth=1)
        ax.grid(alpha=0.3)
        if keys:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        else:
            ax.text(0.5, 0.5, "no such fields in the status samples", transform=ax.transAxes,
                    ha="center", va="center", color="grey")
    for at, text in events:
        ax_heap.annotate(text, xy=(at - t0, 0), xycoords=("data", "axes fraction"), xytext=(3, 3),
                         textcoords="offset points", rotation=90, va="bottom", fontsize=8, color=EVENT_COLOR)
    return _png(fig)


# --- page ---

def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "plot"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')


def _tail(text: str) -> str:
    if len(text) <= SECTION_LIMIT:
        return text
    return f"[... {len(text) - SECTION_LIMIT} characters cut; full text in data.json ...]\n" + text[-SECTION_LIMIT:]


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:16px 24px;color:#1f2328;background:#fff}
h1{font-size:18px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
.summary{margin:0 0 12px;color:#57606a} .plot img{max-width:100%;height:auto;display:block;margin:4px 0 12px}
table{border-collapse:collapse;margin:4px 0} th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;
vertical-align:top} th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.outcome{font-weight:600} pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px;
white-space:pre-wrap;word-break:break-all} details{margin:6px 0 14px} summary{cursor:pointer;font-weight:600}
.none{color:#57606a;font-style:italic}
"""


def render(data: ReportData, out_dir: Path) -> Path:
    """Write out_dir/report.html and out_dir/plots/*.png; return the HTML path."""
    out_dir = Path(out_dir)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    plots: list[tuple[str, str, bytes]] = []  # (title, file name, png)
    latencies = data.all_latencies_ms()
    if latencies:
        plots.append(("Latency histogram", "latency_histogram.png", latency_histogram(latencies)))
    for test_id in sorted(data.status):
        samples = data.status[test_id]
        if samples:
            plots.append((f"Bridge heap and counters: {test_id}", f"status_{_slug(test_id)}.png",
                          status_plot(test_id, samples, data.events.get(test_id, []))))
    for _title, name, png in plots:
        (plots_dir / name).write_bytes(png)

    counts = data.outcome_counts()
    run = data.run
    parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items())] or ["no tests"]
    meta = []
    if run.get("started"):
        meta.append(f"started {run['started']}")
    if run.get("duration_s") is not None:
        meta.append(f"{run['duration_s']:.1f} s")
    if run.get("rig"):
        meta.append(f"rig {run['rig']}")
    if run.get("junit"):
        meta.append(f'JUnit XML: <a href="{_e(run["junit"])}">{_e(run["junit"])}</a>')

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>P1 HIL report {_e(run.get('started', ''))}</title><style>{CSS}</style></head><body>",
           "<h1>P1 HIL test report</h1>",
           f'<p class="summary"><b>{_e(", ".join(parts))}</b>'
           + (" · " + " · ".join(meta) if meta else "") + "</p>"]
    if run.get("board"):
        out.append('<p class="board">' + "<br>".join(_e(line.strip()) for line in run["board"]) + "</p>")
    # Plots first: they are what a reader opens the report for.
    out.append('<section id="plots">')
    if plots:
        for title, name, png in plots:
            out.append(f'<div class="plot">{_img(png, title)}</div>')
    else:
        out.append('<p class="none">No latencies and no bridge status samples were recorded in this run.</p>')
    events_without_plot = sorted(t for t in data.events if t not in data.status)
    for test_id in events_without_plot:
        out.append(f"<p>Events of {_e(test_id)}: "
                   + "; ".join(_e(text) for _at, text in sorted(data.events[test_id])) + "</p>")
    out.append("</section>")

    out.append('<section id="figures"><h2>Figures</h2>')
    rows = []
    if latencies:
        ordered = sorted(latencies)
        rows += [("latency median", statistics.median(ordered), "ms", "all"),
                 ("latency max", ordered[-1], "ms", "all"),
                 ("telegrams timed", len(ordered), "", "all")]
    for test_id in sorted(data.status):
        samples = data.status[test_id]
        heap_min = [st["heap_min_free"] for _at, st in samples if _is_number(st.get("heap_min_free"))]
        if heap_min:
            rows.append(("bridge heap_min_free (lowest sample)", min(heap_min), "B", test_id))
    rows += [(f["name"], f["value"], f["unit"], f["test"] or "") for f in data.figures]
    if rows:
        out.append("<table><tr><th>figure</th><th>value</th><th>unit</th><th>test</th></tr>")
        for name, value, unit, test in rows:
            out.append(f'<tr><td>{_e(name)}</td><td class="num">{_e(_fmt(value))}</td>'
                       f"<td>{_e(unit)}</td><td>{_e(test)}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="none">No figures recorded.</p>')
    out.append("</section>")

    out.append('<section id="results"><h2>Test results</h2>')
    tests = list(data.tests.values())
    if tests:
        out.append('<table id="results-table"><tr><th>test</th><th>outcome</th><th>duration (s)</th>'
                   "<th>properties</th></tr>")
        for t in tests:
            color = OUTCOME_COLORS.get(t["outcome"], "#1f2328")
            props = "; ".join(f"{_e(k)}={_e(_fmt(v))}" for k, v in t.get("properties", []))
            anchor = f' <a href="#fail-{_e(_slug(t["nodeid"]))}">details</a>' if t.get("longrepr") else ""
            out.append(f'<tr><td>{_e(t["nodeid"])}</td><td class="outcome" style="color:{color}">'
                       f'{_e(t["outcome"])}{anchor}</td><td class="num">{t.get("duration", 0):.2f}</td>'
                       f"<td>{props}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="none">No test results recorded.</p>')
    out.append("</section>")

    failed = [t for t in tests if t.get("longrepr")]
    out.append('<section id="failures"><h2>Failures</h2>')
    if not failed:
        out.append('<p class="none">None.</p>')
    for t in failed:
        out.append(f'<details open id="fail-{_e(_slug(t["nodeid"]))}"><summary>{_e(t["nodeid"])} '
                   f'({_e(t["outcome"])})</summary><pre>{_e(_tail(t["longrepr"]))}</pre>')
        for title, text in t.get("sections", []):
            if text.strip():
                out.append(f"<details><summary>{_e(title)}</summary><pre>{_e(_tail(text))}</pre></details>")
        out.append("</details>")
    out.append("</section></body></html>")

    path = out_dir / "report.html"
    path.write_text("\n".join(out), encoding="utf-8")
    return path
