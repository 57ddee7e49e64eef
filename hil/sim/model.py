"""Which virtual board this machine runs, and the heap it is calibrated to.

The virtual ESP8266 is MicroPython v1.28.0's unix port built 32-bit with the
chip's settings and its HAL frozen in (hil/sim/esp8266, built by
hil/sim/build.py). Its heap is calibrated: a firmware finds as
many bytes free at the start of main.py as on a real ESP8266.

Without that build the 64-bit unix port from PyPI stands in. It runs the same
firmware, but its objects are bigger and its HAL sits on the heap, so its heap
figures say nothing about the chip: it is the approximate board, and every
result made on it says so (docs/FIDELITY.md).
"""
from __future__ import annotations

import json
import sys
import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from .clock import DEFAULT_SPEED, describe as describe_speed, pin_host_cpu
from ..rig.deploy import Deploy

# gc.mem_free() at the start of main.py on an ESP8266 running MicroPython 1.2x:
# "about 35 KB" (micropython issue #11666, v1.20, printed by boot.py after
# gc.collect()); the GC pool is 37,952 B (static char heap[38 * 1024] in
# ports/esp8266/main.c, as micropython.mem_info() reports it in issue #5949).
# Read as 35,000 B, the lower reading, so the virtual board errs on the tight side.
CHIP_FREE_AT_MAIN = 35_000
CHIP_FREE_SOURCE = "micropython issue #11666 (ESP8266, v1.20: about 35 KB free at start-up)"

_HEADROOM = 8 * 1024  # heap beyond free_at_main for the boot's own objects; the reserve takes the rest
_FALLBACK_HEAPSIZE = "96k"
# The PyPI unix port has no vfs.rom_ioctl, so the approximate board has no ROMFS partition.
NO_ROMFS = ("the approximate board has no ROMFS partition (its unix port from PyPI lacks vfs.rom_ioctl), so the "
            "bridge's .mpy files go onto its filesystem; its heap says nothing about the chip's anyway")
_BUILD_NAME = "micropython-esp8266"


@dataclass(frozen=True)
class BoardModel:
    """The interpreter a virtual board runs and what it stands for."""

    interpreter: str
    faithful: bool  # True: the 32-bit virtual ESP8266; False: the approximate 64-bit board
    arch: str  # mpy-cross -march for native code on this board
    build: dict
    frozen: str | None = None  # the manifest of a firmware frozen into this image

    @property
    def name(self) -> str:
        if self.faithful:
            return ("virtual ESP8266 (MicroPython v1.28.0, 32-bit, the chip's settings, HAL and asyncio frozen"
                    + (f"; {self.frozen} frozen in" if self.frozen else "") + ")")
        return "approximate board (64-bit, not the chip's heap)"

    def takes(self, deploy: Deploy) -> Deploy:
        """How this board takes a bridge asked to be deployed `deploy`: the
        approximate board has no ROMFS, so romfs becomes mpy there (NO_ROMFS)."""
        return Deploy.MPY if deploy is Deploy.ROMFS and not self.faithful else deploy

    def heapsize(self, free_at_main: int) -> str:
        """-X heapsize for a board that must show free_at_main bytes at main.py."""
        if not self.faithful:
            return _FALLBACK_HEAPSIZE
        return str(free_at_main + _HEADROOM)

    def env(self, free_at_main: int) -> dict[str, str]:
        return {"HIL_SIM_FREE_AT_MAIN": str(free_at_main)} if self.faithful else {}

    def describe_heap(self, free_at_main: int) -> str:
        if not self.faithful:
            return f"-X heapsize={_FALLBACK_HEAPSIZE} on 64-bit objects: not comparable with the chip"
        if free_at_main == CHIP_FREE_AT_MAIN:
            return f"{free_at_main:,} B free at main.py, as on the chip"
        more = free_at_main - CHIP_FREE_AT_MAIN
        return f"{free_at_main:,} B free at main.py, {more:+,} B against the chip"


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def build_command() -> str:
    """How to build and link the virtual ESP8266 for this Python environment."""
    return f"{sys.executable} -m hil.sim.build --link {_bin_dir() / _BUILD_NAME} (with MICROPYTHON_SRC set, or online)"


def board_model() -> BoardModel:
    """The board this machine's virtual rig runs: the virtual ESP8266 when it
    was built and linked (scripts/bootstrap, or build_command()), else the
    approximate board."""
    built = _bin_dir() / _BUILD_NAME
    if built.exists():
        meta = built.resolve().with_name("board.json")
        info = json.loads(meta.read_text()) if meta.exists() else {}
        return BoardModel(str(built), True, "x86", info)
    fallback = _bin_dir() / "micropython"
    if not fallback.exists():
        raise FileNotFoundError(
            f"no MicroPython for the virtual boards in {_bin_dir()}: install this package with its "
            f"dependencies (the approximate board), and build the virtual ESP8266: {build_command()}")
    return BoardModel(str(fallback), False, "x64", {})


def manifest_env(path_vars: dict[str, Path] | None) -> dict[str, str]:
    """The environment that gives a manifest its $(NAME) path variables, as
    MicroPython's build takes them: MICROPY_MANIFEST_<NAME>."""
    return {f"MICROPY_MANIFEST_{name}": str(path) for name, path in (path_vars or {}).items()}


def frozen_image(manifest: Path, path_vars: dict[str, Path] | None = None) -> BoardModel:
    """The virtual ESP8266 with the firmware of `manifest` frozen in, as a user
    builds it for the chip; built (or taken from the cache) by
    hil/sim/build.py. path_vars: the manifest's own $(NAME)s
    (e.g. {"MQTT_AS_DIR": dir} for bridge_firmware/manifest_mqtt_as.py); the
    environment's MICROPY_MANIFEST_<NAME> otherwise."""
    model = board_model()
    if not model.faithful:
        raise FileNotFoundError(f"a frozen firmware needs the virtual ESP8266, and this machine has the {model.name}: "
                                f"build it: {build_command()}")
    script = Path(__file__).with_name("build.py")  # standard library only: run as a script
    r = subprocess.run([sys.executable, str(script), "--freeze", str(manifest)], capture_output=True, text=True,
                       env=dict(os.environ, **manifest_env(path_vars)))
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        raise FileNotFoundError(f"building the image with {manifest} frozen in failed:\n{r.stdout}{r.stderr}")
    return replace(model, interpreter=lines[-1], frozen=str(manifest))


def describe_rig(kind: str, deploy: Deploy = Deploy.ROMFS, manifest: str | None = None,
                 board_speed: str = DEFAULT_SPEED) -> list[str]:
    """What a run's figures about the board stand for: the lines the pytest
    header, the report and `hil demo` print. manifest: what `frozen` freezes.
    At the chip's speed this measures the host's speed once, for every rig
    of the run (pin_host_cpu), so the factor printed is the one boards use."""
    if kind == "labgrid":
        return ["boards: a labgrid place's (--rig labgrid): real boards' heap and timing are the chips' own; "
                "a place tagged virtual=1 is a `hil sim` (the virtual ESP8266 at its default heap)",
                f"  bridge: {deploy.value}, {deploy.what}"]
    if kind != "sim":
        return ["boards: real ESP8266 boards (--rig usb): heap and timing are the chips' own",
                f"  bridge: {deploy.value}, {deploy.what}"]
    try:
        model = board_model()
    except FileNotFoundError as e:
        return [f"board: none ({e})"]
    factor = pin_host_cpu(model.interpreter) if board_speed == "chip" and model.faithful else None
    lines = [f"board: {model.name}", f"  board speed: {describe_speed(board_speed, model.faithful, factor)}"]
    taken = model.takes(deploy)
    what = taken.what if taken is not Deploy.FROZEN or not manifest else f"{manifest} {taken.what}"
    lines.append(f"  bridge: {taken.value}, {what}"
                 + (f" (--bridge-deploy {deploy.value} asked: {NO_ROMFS})" if taken is not deploy else ""))
    if not model.faithful:
        lines.append("  heap figures are not the chip's and the heap checks are skipped; for the virtual "
                     f"ESP8266 run scripts/bootstrap in a checkout, or {build_command()}")
        return lines
    lines.append(f"  heap of both boards: {model.describe_heap(CHIP_FREE_AT_MAIN)} ({CHIP_FREE_SOURCE}); "
                 f"the scenarios hold the bridge to at least {taken.heap_floor // 1024} KB free at the lowest")
    return lines
