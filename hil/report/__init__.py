"""A report per test run: JUnit XML, data.json and report.html with the plots.

    data.py     ReportData: the recorder tests feed (latencies, bridge status
                samples, events, figures) plus the outcome of every test;
                saved as data.json, everything needed to render again
    render.py   data → report.html (plots first, as PNG data URIs) and plots/*.png
    plugin.py   the pytest plugin: --report-dir, the `report_data` fixture,
                hooks that collect outcomes and record_property values
    cli.py      `hil report RUN_DIR`: render a saved run again
"""
from .data import ReportData, ReportDataError

__all__ = ["ReportData", "ReportDataError"]
