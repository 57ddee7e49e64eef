"""How the bridge's code reaches its board (`--bridge-deploy`), and what follows from that.

    romfs   .mpy files in the ROMFS partition of the FLASH_2M_ROMFS firmware (the default)
    frozen  frozen into the firmware image built from the bridge's manifest.py
    mpy     .mpy files on the filesystem, for a firmware without ROMFS

This one value decides whether the bridge's bytecode stays in flash, the lowest
free heap the scenarios hold the bridge to, and the words the pytest header, the
report and `hil demo` print. Nothing else decodes it.

build_for() and put_on_board() are the one way a firmware goes onto its board:
the rig's runs, `hil deploy` and `hil demo` all come through them.
"""
from __future__ import annotations

import argparse
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .firmware import build, deploy_romfs

# The bridge's heap target right after start-up, which the ROMFS and frozen bridges meet
# (bridge_firmware/README.md, "RAM, and the ways onto a board").
AFTER_START_UP_TARGET = 12 * 1024

# How far this project's bridge as .mpy files on the filesystem misses the chip's heap
# targets (AFTER_START_UP_TARGET after start-up, the mpy heap floor at the lowest):
# measured by tests/sim/test_bridge_mpy_on_chip_heap.py (which fails when the figure
# moves by more than 1 KB), quoted by README.md and bridge_firmware/README.md.
MPY_SHORTFALL = 14_168

# Per way: the lowest free heap the bridge must keep on the chip over every scenario
# (frozen, its code and names sit in flash; from ROMFS its function and class objects
# are still on the heap), what goes where, and how the heap checks name it.
_WAYS = {
    "romfs": (8 * 1024, ".mpy files in the ROMFS partition (FLASH_2M_ROMFS firmware; bytecode runs in place "
                        "from flash)", "as .mpy files in ROMFS"),
    # 15 KB: waiting on the UART and the MQTT socket in asyncio's I/O queue cost about
    # 300 B at the lowest, the liveness check, the 48-message QoS 1 window and the
    # broker's re-resolve about 400 B more (measured 15,856 to 16,256 B at the lowest
    # in the broker stall and restart on 2026-12-06).
    "frozen": (15 * 1024, "frozen into the firmware image (bytecode in flash, as a user builds it from its "
                          "manifest.py)", "frozen into the image"),
    "mpy": (8 * 1024, ".mpy files on the filesystem (bytecode loaded into the heap; for a firmware without ROMFS)",
            "as .mpy files on the filesystem"),
}


class DeployError(argparse.ArgumentTypeError, ValueError):
    """Not a way to deploy the bridge; the message names the three."""


class Deploy(enum.Enum):
    ROMFS = "romfs"
    FROZEN = "frozen"
    MPY = "mpy"

    @classmethod
    def parse(cls, value: "str | Deploy") -> "Deploy":
        """The value of --bridge-deploy; DeployError naming the three ways otherwise
        (argparse and pytest show it as a usage error)."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            raise DeployError(f"no way to deploy the bridge called {value!r}: choose romfs (.mpy files in the "
                              "ROMFS partition of the FLASH_2M_ROMFS firmware; the default), frozen (frozen into "
                              "the firmware image from its manifest.py) or mpy (.mpy files on the filesystem, for "
                              "a firmware without ROMFS)") from None

    @property
    def bytecode_in_flash(self) -> bool:
        return self is not Deploy.MPY

    @property
    def heap_floor(self) -> int:
        """The lowest free heap, in bytes, the scenarios hold the bridge to on the chip."""
        return _WAYS[self.value][0]

    @property
    def what(self) -> str:
        """What this way puts where, as the header, the report and `hil demo` say it."""
        return _WAYS[self.value][1]

    @property
    def words(self) -> str:
        """How the heap checks name the bridge deployed this way."""
        return _WAYS[self.value][2]


DEFAULT = Deploy.ROMFS


def mpy_misfit(figure: int = MPY_SHORTFALL) -> str:
    """Why `mpy` is not the way for this project's bridge on the chip."""
    return (f"this bridge as .mpy files on the filesystem does not fit the ESP8266: at the chip's heap it dies at "
            f"start-up with MemoryError; it needs about {figure:,} B more than the chip has to keep "
            f"{AFTER_START_UP_TARGET // 1024} KB free after start-up and {Deploy.MPY.heap_floor // 1024} KB at the "
            f"lowest; use --bridge-deploy romfs (the FLASH_2M_ROMFS firmware) or frozen")


@dataclass(frozen=True)
class BoardFiles:
    """A firmware built for its board: what goes into ROMFS, onto the
    filesystem, and which copies on the filesystem must go."""
    romfs: list[tuple[str, bytes]] = field(default_factory=list)  # modules for the ROMFS partition
    filesystem: list[tuple[str, bytes]] = field(default_factory=list)  # files onto the filesystem, in order
    shadowing: list[str] = field(default_factory=list)  # module names the image holds: copies on the filesystem go

    @property
    def nbytes(self) -> int:
        return sum(len(data) for _, data in self.filesystem)


def build_for(firmware: Path, deploy: Deploy, build_dir: Path, arch: str,
              libs: "list[Path] | tuple[Path, ...]" = ()) -> BoardFiles:
    """A firmware and its libraries (e.g. mqtt_as) built, and put where
    `deploy` says: ROMFS takes the firmware's modules and the libraries,
    FROZEN means the image holds the firmware's modules (the libraries go onto
    the filesystem, since the image is built from the firmware's own
    manifest.py), MPY puts everything onto the filesystem. main.py is always a
    file. FirmwareError when a module does not build."""
    build_dir = Path(build_dir)
    own = build(Path(firmware), build_dir / "firmware", arch=arch)
    lib_files = [f for i, lib in enumerate(libs) for f in build(Path(lib), build_dir / f"lib{i}", arch=arch)]
    main = [(name, data) for name, data in own if name == "main.py"]
    modules = [(name, data) for name, data in own if name != "main.py"]
    if deploy is Deploy.ROMFS:
        return BoardFiles(romfs=modules + lib_files, filesystem=main)
    if deploy is Deploy.FROZEN:
        return BoardFiles(filesystem=main + lib_files, shadowing=[name.rsplit(".", 1)[0] for name, _ in modules])
    return BoardFiles(filesystem=own + lib_files)


def put_on_board(board, files: BoardFiles, config: dict | None = None, *,
               romfs_progress: Callable[[int, int], None] | None = None,
               put_progress: Callable[[str, int, int], None] | None = None) -> int | None:
    """Write a built firmware (and a bridge's config.json) onto a board in its raw REPL,
    without resetting it; returns the ROMFS image's size (None: no ROMFS).
    Copies of modules that ROMFS or the image hold are removed from the
    filesystem first: they would come first in sys.path. put_progress(name,
    bytes done, bytes in all) follows the files."""
    if files.shadowing:
        board.remove_modules(files.shadowing)
    size = deploy_romfs(board, files.romfs, progress=romfs_progress) if files.romfs else None
    puts = list(files.filesystem)
    if config is not None:
        puts.append(("config.json", json.dumps(config, indent=1).encode()))
    total, before = sum(len(data) for _, data in puts), 0
    for name, data in puts:
        step = None
        if put_progress is not None:
            step = (lambda done, _t, name=name, base=before: put_progress(name, base + done, total))
        board.put(data, name, progress=step)
        before += len(data)
    return size
