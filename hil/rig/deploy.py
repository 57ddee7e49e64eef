"""How the bridge's code reaches its board (`--bridge-deploy`), and what follows from that.

    romfs   .mpy files in the ROMFS partition of the FLASH_2M_ROMFS firmware (the default)
    frozen  frozen into the firmware image built from the bridge's manifest.py
    mpy     .mpy files on the filesystem, for a firmware without ROMFS

This one value decides whether the bridge's bytecode stays in flash, the lowest
free heap the scenarios hold the bridge to, and the words the pytest header, the
report and `hil demo` print. Nothing else decodes it.
"""
from __future__ import annotations

import argparse
import enum

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
