"""Firmware as it goes onto a board: modules precompiled with mpy-cross.

Precompiling saves the board the RAM of compiling source at import (the
bridge does not fit an ESP8266's heap otherwise) and is a MicroPython syntax
check. main.py and boot.py stay source: the board runs them by name.

Native code (@micropython.viper/native, e.g. p1reader.py's byte loop) is machine
code for one architecture, so build() takes the board's: "xtensa" for an ESP8266,
"x86" for the virtual ESP8266 (a 32-bit unix port), "x64" for the approximate
64-bit board. Modules without native code stay portable bytecode whatever arch
says. A module with native code and no arch is an error: shipped as source it
would not even compile in a board's heap (MemoryError at import), and an .mpy
for the wrong arch fails at import.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .reset import is_virtual

_RUN_AS_SOURCE = {"main.py", "boot.py"}
_NOT_FOR_THE_BOARD = re.compile(r"manifest(_\w+)?\.py")  # an image's freeze lists, read by the build
ARCHS = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensa", "xtensawin", "rv32imc")
ESP8266_ARCH = "xtensa"
_NATIVE = re.compile(rb"^\s*@micropython\.(viper|native|asm_\w+)\b", re.M)


class FirmwareError(Exception):
    pass


def _mpy_cross() -> str:
    exe = Path(sys.executable).with_name("mpy-cross")
    found = str(exe) if exe.exists() else shutil.which("mpy-cross")
    if not found:
        raise FirmwareError("mpy-cross not found; run scripts/bootstrap (it installs the pinned mpy-cross)")
    return found


def has_native_code(source: bytes) -> bool:
    """True if a module's source has @micropython.viper/native/asm_* functions."""
    return _NATIVE.search(source) is not None


def build(source_dir: Path, out_dir: Path, arch: str | None = None) -> list[tuple[str, bytes]]:
    """(name on the board, bytes) for every module of a firmware directory.

    arch: mpy-cross -march for native code ("xtensa" for an ESP8266, the board
    model's arch for a virtual board); None is enough only for firmware without
    native code."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not source_dir.is_dir():
        raise FirmwareError(f"firmware directory {source_dir} does not exist")
    if arch is not None and arch not in ARCHS:
        raise FirmwareError(f"unknown mpy-cross arch {arch!r}; one of {', '.join(ARCHS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for path in sorted(source_dir.glob("*.py")):
        if _NOT_FOR_THE_BOARD.fullmatch(path.name):
            continue
        source = path.read_bytes()
        if path.name in _RUN_AS_SOURCE:
            files.append((path.name, source))
            continue
        if arch is None and has_native_code(source):
            raise FirmwareError(f"{path.name} has native (viper) code: build() needs the board's arch, "
                                f"{ESP8266_ARCH!r} for an ESP8266, 'x86' for the virtual ESP8266")
        target = out_dir / (path.stem + ".mpy")
        march = [f"-march={arch}"] if arch is not None else []
        result = subprocess.run([_mpy_cross(), *march, "-o", str(target), "-s", path.name, str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise FirmwareError(f"mpy-cross rejected {path}:\n{result.stderr or result.stdout}")
        files.append((target.name, target.read_bytes()))
    if not files:
        raise FirmwareError(f"no *.py modules in {source_dir}")
    return files


def deploy_romfs(board, files: list[tuple[str, bytes]],
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Write a built firmware's modules (build(), libraries included) into the
    board's ROMFS partition and remove copies of them from its filesystem, where
    they would come first in sys.path; returns the image's size. main.py is the
    caller's to put."""
    image = romfs_image(files)
    board.write_romfs(image, progress=progress)
    board.remove_modules([name.rsplit(".", 1)[0] for name, _ in files if name != "main.py"])
    return len(image)


def romfs_image(files: list[tuple[str, bytes]]) -> bytes:
    """A ROMFS image of a built firmware (build()), in mpremote's format, for
    the partition of the ESP8266's FLASH_2M_ROMFS firmware: its .mpy files run
    in place there, their bytecode costs no heap. main.py is left out: the
    board runs main.py from its filesystem."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()
    for name, data in files:
        if name != "main.py":
            writer.mkfile(name, data)
    return writer.finalise()


def arch_for_port(port: str) -> str:
    """The mpy-cross arch of the board on `port`: a virtual board (a pty) runs
    this machine's board model (hil/sim/model.py); anything else is an ESP8266."""
    return arch_for(virtual=is_virtual(port))


def arch_for(virtual: bool) -> str:
    """The mpy-cross arch of a virtual board (this machine's board model) or of an ESP8266."""
    if virtual:
        import platform

        from ..sim.model import board_model

        machine = platform.machine()
        if machine not in ("x86_64", "AMD64"):
            raise FirmwareError(f"virtual boards on {machine}: native code is built for x86/x64 only; "
                                "run the rig on an x86_64 machine")
        return board_model().arch
    return ESP8266_ARCH


def frozen_manifest(firmware_dir: Path) -> Path:
    """The manifest.py that freezes a firmware into an image (see
    bridge_firmware/manifest.py); FirmwareError if the firmware has none."""
    manifest = Path(firmware_dir) / "manifest.py"
    if not manifest.is_file():
        raise FirmwareError(f"no {manifest}: a frozen firmware needs a manifest.py listing its modules "
                            "(see bridge_firmware/manifest.py)")
    return manifest.resolve()
