"""What every `hil` command shows the user: one console for output, one for
errors (stderr, never wrapped, so an error is one line), and how a command
fails or warns. Exit codes: 0 clean, 1 a problem with what was checked, 2 a
usage or environment error. run_alone() runs one command group without the others."""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..rig.deploy import DEFAULT as DEFAULT_DEPLOY, Deploy

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> int:
    """Print `error: message` on stderr; returns the exit code to give."""
    err_console.print(f"[red]error:[/] {escape(message)}")
    return code


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


@contextmanager
def progress_bar(*columns):
    """A rich progress display on the console: description, bar, `columns`, time taken."""
    with Progress(TextColumn("{task.description}"), BarColumn(), *columns, TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        yield progress


def upload_capture(board, label: str, name: str, data: bytes) -> tuple[str, bool]:
    """A capture onto the emulator's flash with a progress bar, for every
    command that uploads one (hil.rig.emulator.put_capture: the path there,
    and False when the board held these bytes already)."""
    from rich.progress import DownloadColumn

    from ..rig.emulator import put_capture

    with progress_bar(DownloadColumn()) as progress:
        task = progress.add_task(f"{label} → captures/{name}", total=len(data))
        remote, copied = put_capture(board, name, data,
                                     progress=lambda done, total: progress.update(task, completed=done))
        progress.update(task, completed=len(data))
    return remote, copied


def add_bridge_deploy(parser, default: Deploy | None = DEFAULT_DEPLOY, more: str = "") -> None:
    """--bridge-deploy romfs|frozen|mpy, the same for every command that puts the bridge onto a board."""
    parser.add_argument("--bridge-deploy", type=Deploy.parse, default=default, metavar="romfs|frozen|mpy",
                        help="how the bridge's modules reach its board (default romfs): .mpy files in the ROMFS "
                             "partition (the FLASH_2M_ROMFS firmware), frozen into the firmware image from its "
                             "manifest.py, or .mpy files on the filesystem (hil/rig/deploy.py)" + more)


def run_alone(add_parsers: Callable, description: str, argv=None) -> int:
    """One command group on its own (`python -m hil.cli.captures ...`, and the
    tests): its parsers only, the same exit codes as `hil`."""
    parser = argparse.ArgumentParser(prog="hil", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
