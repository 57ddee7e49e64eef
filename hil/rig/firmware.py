"""Firmware as it goes onto a board: modules precompiled with mpy-cross.

Precompiling saves the board the RAM of compiling source at import (the
bridge does not fit an ESP8266's heap otherwise) and is a MicroPython syntax
check. main.py and boot.py stay source: the board runs them by name.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_RUN_AS_SOURCE = {"main.py", "boot.py"}


class FirmwareError(Exception):
    pass


def _mpy_cross() -> str:
    exe = Path(sys.executable).with_name("mpy-cross")
    found = str(exe) if exe.exists() else shutil.which("mpy-cross")
    if not found:
        raise FirmwareError("mpy-cross not found; run scripts/bootstrap (it installs the pinned mpy-cross)")
    return found


def build(source_dir: Path, out_dir: Path) -> list[tuple[str, bytes]]:
    """(name on the board, bytes) for every module of a firmware directory."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not source_dir.is_dir():
        raise FirmwareError(f"firmware directory {source_dir} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for path in sorted(source_dir.glob("*.py")):
        if path.name in _RUN_AS_SOURCE:
            files.append((path.name, path.read_bytes()))
            continue
        target = out_dir / (path.stem + ".mpy")
        result = subprocess.run([_mpy_cross(), "-o", str(target), "-s", path.name, str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise FirmwareError(f"mpy-cross rejected {path}:\n{result.stderr or result.stdout}")
        files.append((target.name, target.read_bytes()))
    if not files:
        raise FirmwareError(f"no *.py modules in {source_dir}")
    return files
