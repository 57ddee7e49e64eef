"""`hil captures ...` and `hil capture`: the capture library from a terminal.

    hil captures validate FILE...                      framing, CRC, oracle per telegram
    hil captures import FILE --meter M --source S      copy into captures/ + index entry
    hil captures anonymise IN OUT [--seed S]           rewrite meter identifiers, new CRC
    hil captures synthesize TEMPLATE OUT --count N     a realistic sequence from a template
    hil captures upload FILE [--port SPEC]             copy to the emulator's flash
    hil capture --port PORT [--count N] [--out FILE]   record a real meter via USB-UART

hil/cli/__init__.py wires these in with :func:`add_parsers`; :func:`main` runs them alone
(``python -m hil.cli.captures captures validate ...``). Every command returns an
exit code: 0 clean, 1 a problem with the data, 2 a usage or environment error.
"""
from __future__ import annotations

import argparse
import datetime
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from rich.markup import escape
from rich.progress import TextColumn
from rich.table import Table

from ..oracle import capture_check
from ..p1 import captures as library
from ..p1 import record as record_module
from .ui import console, err_console, fail as _fail, progress_bar, run_alone, upload_capture



# --- validate ---

def _report_table(report: capture_check.FileReport) -> Table:
    table = Table(title=escape(f"{report.path} ({report.size} bytes, {len(report.telegrams)} telegrams)"),
                  title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("offset", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("0-0:1.0.0")
    table.add_column("CRC")
    table.add_column("values", justify="right")
    table.add_column("verdict")
    for t in report.telegrams:
        verdict = "[green]ok[/]" if t.ok else f"[red]{len(t.problems)} problem{'s' * (len(t.problems) > 1)}[/]"
        table.add_row(str(t.number), str(t.offset), str(t.size), t.clock, escape(t.crc), str(t.values), verdict)
    return table


def _print_report(report: capture_check.FileReport) -> None:
    console.print(_report_table(report))
    for t in report.telegrams:
        for problem in t.problems:
            console.print(f"  [red]✗[/] telegram {t.number} (byte {t.offset}): {escape(problem)}")
    for problem in report.problems:
        console.print(f"  [red]✗[/] {escape(problem)}")


def cmd_validate(args) -> int:
    bad = unreadable = 0
    for name in args.files:
        path = Path(name)
        try:
            report = capture_check.check_file(path)
        except library.CaptureError as e:
            err_console.print(f"[red]error:[/] {escape(str(e))}")
            unreadable += 1
            continue
        _print_report(report)
        good = sum(t.ok for t in report.telegrams)
        mark = "[green]✓[/]" if report.ok else "[red]✗[/]"
        console.print(f"{mark} {escape(name)}: {good} of {len(report.telegrams)} telegrams clean"
                      + ("" if not report.problems else f", {len(report.problems)} problems outside telegrams"))
        bad += not report.ok
    return 2 if unreadable else 1 if bad else 0


# --- import ---

def cmd_import(args) -> int:
    directory = Path(args.captures_dir)
    src = Path(args.file)
    if not (directory / "index.toml").is_file():
        return _fail(f"{directory.resolve()} is no capture library (no index.toml): run in the project's checkout "
                     "or give --captures-dir DIR")
    try:
        report = capture_check.check_file(src)
    except library.CaptureError as e:
        return _fail(str(e))
    if not report.ok:
        _print_report(report)
        return _fail(f"{src} does not validate; nothing imported", 1)
    if not args.anonymise:
        from ..p1.anonymise import identifiers
        found = sorted({i.decode("latin-1") for t in library.p1.split_telegrams(src.read_bytes())
                        for i in identifiers(t)})
        err_console.print("[yellow]warning:[/] importing without --anonymise keeps the meter's identifiers "
                          f"({escape(', '.join(found))}); only do this for published sample telegrams")
    try:
        entry = library.import_capture(src, check=capture_check.check_bytes, meter=args.meter, source=args.source,
                                       notes=args.notes or "", name=args.name, directory=directory,
                                       anonymise=args.anonymise, seed=args.seed)
    except (library.CaptureError, ValueError) as e:
        return _fail(str(e))
    console.print(f"[green]imported[/] {escape(str(directory / entry['file']))}: {entry['bytes']} bytes, "
                  f"CRC {entry['crc']}, {entry['date']}, sha256 {entry['sha256'][:12]}…; "
                  f"index entry appended to {escape(str(directory / 'index.toml'))}")
    return 0


# --- anonymise ---

def cmd_anonymise(args) -> int:
    from ..p1.anonymise import AnonymiseError, Anonymiser

    src, dst = Path(args.input), Path(args.output)
    if dst.exists() and not args.force:
        return _fail(f"{dst} exists; refusing to overwrite (--force to replace)")
    try:
        data = library.read_capture(src)
    except library.CaptureError as e:
        return _fail(str(e))
    anon = Anonymiser(args.seed)
    try:
        out = anon.data(data)
    except AnonymiseError as e:
        return _fail(f"{src}: {e}", 1)
    dst.write_bytes(out)
    for (original, keep), new in sorted(anon.mapping.items()):
        console.print(f"  {escape(original.decode('latin-1'))} → {escape(new.decode('latin-1'))}")
    report = capture_check.check_bytes(out, str(dst))
    console.print(f"[green]anonymised[/] {len(library.p1.split_telegrams(out))} telegrams → {escape(str(dst))}"
                  + ("" if report.ok else " [red](output does not validate; see `hil captures validate`)[/]"))
    return 0 if report.ok else 1


# --- synthesize ---

def cmd_synthesize(args) -> int:
    from ..p1.synth import SynthError, synthesize

    src, dst = Path(args.template), Path(args.output)
    if dst.exists() and not args.force:
        return _fail(f"{dst} exists; refusing to overwrite (--force to replace)")
    if args.count < 1:
        return _fail("--count must be at least 1")
    try:
        telegrams = synthesize(library.read_capture(src), args.count, args.interval_s, args.seed)
    except library.CaptureError as e:
        return _fail(str(e))
    except SynthError as e:
        return _fail(f"{src}: {e}", 1)
    data = b"".join(telegrams)
    dst.write_bytes(data)
    report = capture_check.check_bytes(data, str(dst))
    first, last = report.telegrams[0], report.telegrams[-1]
    console.print(f"[green]synthesized[/] {len(telegrams)} telegrams, {len(data)} bytes → {escape(str(dst))} "
                  f"({first.clock} … {last.clock}, seed {args.seed})")
    if not report.ok:
        return _fail("the sequence does not validate (a bug in hil.p1.synth): run `hil captures validate`", 1)
    return 0


# --- upload ---

def cmd_upload(args) -> int:
    from ..rig import benchconfig, discover
    from ..rig.board import Board, BoardError

    src = Path(args.file)
    try:
        data = library.read_capture(src)
    except library.CaptureError as e:
        return _fail(str(e))
    report = capture_check.check_bytes(data, str(src))
    if not report.ok and not args.force:
        return _fail(f"{src} does not validate (run `hil captures validate`); --force uploads it anyway", 1)
    name = args.name or src.name
    try:  # the port as `hil play` finds it: --port SPEC, else the emulator's binding, else the only board
        port = discover.resolve(args.port or benchconfig.load_rig_config(args.rig_config).binding("emulator"),
                                "emulator", option="--port")
    except (benchconfig.RigConfigError, discover.DiscoverError) as e:
        return _fail(str(e))
    board = Board("emulator", port)
    try:
        with board:
            remote, copied = upload_capture(board, src.name, name, data)
    except BoardError as e:
        return _fail(str(e))
    console.print(f"[green]uploaded[/] {escape(str(src))} → {escape(remote)} on {escape(port)} ({len(data)} bytes)"
                  if copied else f"{escape(remote)} on {escape(port)} holds these bytes already")
    return 0


# --- capture (record) ---

@contextmanager
def _graceful_sigint(stop: threading.Event):
    """First Ctrl-C sets ``stop`` (the recorder ends after the bytes in hand);
    a second one raises KeyboardInterrupt as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_capture(args, stop: threading.Event | None = None) -> int:
    from ..p1.record import RecordError, open_port, record

    out = Path(args.out or datetime.datetime.now().strftime("capture-%Y%m%d-%H%M%S.p1"))
    anonymiser = None
    if args.anonymise:
        from ..p1.anonymise import Anonymiser
        anonymiser = Anonymiser(args.seed)
    stop = stop or threading.Event()
    try:
        port = open_port(args.port, args.baud)
    except RecordError as e:
        return _fail(str(e))
    console.print(f"recording from {escape(args.port)} at {args.baud} 8N1 → {escape(str(out))}"
                  + (" (anonymised)" if anonymiser else "") + "; Ctrl-C stops, keeping every complete telegram")
    try:
        with port, _graceful_sigint(stop), progress_bar(TextColumn("{task.completed}/{task.total} telegrams"),
                                                      TextColumn("{task.fields[nbytes]} bytes read")) as progress:
            task = progress.add_task("recording", total=args.count, nbytes=0)

            def on_telegram(t):
                verdict = "[green]CRC ok[/]" if t.crc_ok else "[red]CRC BAD[/]"
                clock = library.CLOCK_RE.search(t.data)
                progress.console.print(f"#{t.number:<4} {len(t.data):>5} bytes  {verdict}  "
                                       + (clock.group(1).decode() + clock.group(2).decode() if clock else ""))
                progress.update(task, advance=1)

            def on_bytes(n):
                progress.update(task, nbytes=progress.tasks[0].fields["nbytes"] + n)

            def on_idle(seconds):
                progress.console.print(f"[yellow]no bytes for {seconds:.0f} s:[/] check the wiring, that Data "
                                       "Request (RJ12 pin 2) is high, and the adapter's inversion")

            result = record(port, out, count=args.count, anonymiser=anonymiser, stop=stop,
                            on_telegram=on_telegram, on_bytes=on_bytes, on_idle=on_idle)
    except RecordError as e:
        return _fail(str(e))
    if result.partial:
        console.print(f"[yellow]incomplete telegram at the end: {len(result.partial)} bytes, not written[/]")
    if result.skipped:
        console.print(f"{result.skipped} bytes outside telegrams skipped")
    how = "stopped" if result.interrupted else "done"
    console.print(f"[green]{how}:[/] {len(result.telegrams)} telegrams written to {escape(str(out))}"
                  + (f", [red]{result.bad_crc} with a bad CRC[/]" if result.bad_crc else ""))
    return 1 if result.bad_crc else 0


# --- wiring ---

def add_parsers(subparsers) -> None:
    """Add `captures` (with its subcommands) and `capture` to an argparse subparsers object."""
    caps = subparsers.add_parser("captures", help="validate, import, anonymise, synthesize, upload captures",
                                 description="The capture library: captures/*.p1 and captures/index.toml.")
    sub = caps.add_subparsers(dest="captures_command", required=True)

    p = sub.add_parser("validate", help="framing, CRC and oracle (dsmr-parser) for every telegram of each file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="validate, copy into captures/ and append an index entry")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--meter", required=True, help='meter make and model, e.g. "Sanxing SX631, three-phase"')
    p.add_argument("--source", required=True, help="where the bytes come from (who recorded them, how)")
    p.add_argument("--notes", default="", help="anything a user of the capture should know")
    p.add_argument("--name", help="file name in captures/ (default: FILE's name; must end in .p1)")
    p.add_argument("--anonymise", action="store_true", help="rewrite the meter's identifiers first")
    p.add_argument("--seed", help="anonymisation key (default: random, so it cannot be reversed)")
    p.add_argument("--captures-dir", default="captures", metavar="DIR",
                   help="the capture library to add to: a directory with an index.toml (default: ./captures, "
                        "the library of the checkout you run in)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("anonymise", help="rewrite identifiers (header, 96.1.x, 42.0.0), recompute CRCs")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--seed", help="key for a reproducible mapping (default: random)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.set_defaults(func=cmd_anonymise)

    p = sub.add_parser("synthesize", help="a realistic telegram sequence from a template capture")
    p.add_argument("template", metavar="TEMPLATE")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--count", type=int, required=True, help="telegrams to write (the first is the template)")
    p.add_argument("--interval-s", type=float, default=10.0, help="seconds between telegrams (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0: reproducible)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("upload", help="copy a capture to the emulator board's flash (captures/<name>)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--port", metavar="SPEC", help="the emulator board: device path, serial:XYZ or location:1-1.2 "
                                                  "(default: its binding in --rig-config, else the only board)")
    p.add_argument("--rig-config", metavar="FILE", help="the bench's rig config (JSON; see `hil boards --help`)")
    p.add_argument("--name", help="name on the board (default: FILE's name)")
    p.add_argument("--force", action="store_true", help="upload even if it does not validate (fault tests)")
    p.set_defaults(func=cmd_upload)

    p = subparsers.add_parser("capture", help="record telegrams from a real meter through a USB-UART adapter",
                              description=record_module.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, help="the USB-UART adapter's port, e.g. /dev/ttyUSB0")
    p.add_argument("--count", type=int, default=None, help="stop after N telegrams (default: until Ctrl-C)")
    p.add_argument("--out", help="output file (default: capture-YYYYmmdd-HHMMSS.p1); never overwritten")
    p.add_argument("--anonymise", action="store_true", help="rewrite identifiers before writing")
    p.add_argument("--seed", help="anonymisation key (default: random)")
    p.add_argument("--baud", type=int, default=115200, help="default 115200 (DSMR 5)")
    p.set_defaults(func=cmd_capture)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
