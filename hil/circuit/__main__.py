"""python -m hil.circuit [--out DIR] [--no-sweep]: regenerate docs/circuit."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import Progress

from . import drawings, report

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.circuit", description=__doc__)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "circuit")
    p.add_argument("--no-sweep", action="store_true", help="skip the component sweep (a few minutes)")
    args = p.parse_args(argv)
    drawings.write_all(args.out)
    with Progress() as bar:
        task = bar.add_task("SPICE sweep", total=None)
        report.generate(args.out, not args.no_sweep,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
