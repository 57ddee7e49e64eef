"""`hil report RUN_DIR`: render a run's report again from its data.json.

For when the renderer improved after the run, or a CI artefact was saved
without its HTML. Wired into the `hil` command with :func:`add_parsers`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report.data import ReportData, ReportDataError
from .ui import run_alone


def cmd_report(args) -> int:
    run_dir = Path(args.run_dir)
    data_file = run_dir / "data.json"
    if not data_file.is_file():
        print(f"hil report: no data.json in {run_dir} (is it a report directory of a test run?)", file=sys.stderr)
        return 2
    try:
        data = ReportData.load(data_file)
    except ReportDataError as e:
        print(f"hil report: {e}", file=sys.stderr)
        return 2
    from ..report.render import render  # matplotlib only when rendering

    html = render(data, Path(args.out) if args.out else run_dir)
    print(f"hil report: wrote {html}")
    return 0


def add_parsers(subparsers) -> None:
    """Add the `report` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser("report", help="render a test run's report again from its saved data",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run's report directory (reports/<timestamp>/)")
    p.add_argument("--out", metavar="DIR", help="write report.html and plots/ here (default: RUN_DIR)")
    p.set_defaults(func=cmd_report)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
