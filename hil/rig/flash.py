"""Put MicroPython on a real ESP8266 board with esptool (its public Python API).

esptool 5 documents `esptool.cmds` (detect_chip, run_stub, attach_flash,
erase_flash, write_flash, reset_chip) as the stable way to script it, and a
custom logger (`esptool.logger.log.set_logger` with an esp-pylib `EspLogBase`) as the
way to receive its messages and progress; this module uses exactly those, and
shows the equivalent command line so a user can repeat a step by hand.

The image is the user's download: MicroPython for ESP8266 boards with 2 MB or
more flash (the D1 mini has 4 MB), "ESP8266_GENERIC", v1.28.x, the .bin file
from https://micropython.org/download/ESP8266_GENERIC/ . It goes to address 0
with the flash size detected, after a full erase (MicroPython's own
instructions; the erase also wipes an old filesystem).

Virtual boards run the MicroPython unix port: there is nothing to flash.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .reset import is_virtual

DOWNLOAD_URL = "https://micropython.org/download/ESP8266_GENERIC/"
DEFAULT_BAUD = 460800  # the stub flasher's rate MicroPython's instructions use; CH340s manage it
ROM_BAUD = 115200  # the ROM bootloader talks at this rate until the stub takes over
CHIP = "ESP8266"
_ESP_IMAGE_MAGIC = 0xE9
_MAX_IMAGE = 4 * 1024 * 1024

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class FlashError(Exception):
    """Flashing failed or was refused; the message says why and what to try."""


class VirtualBoardError(FlashError):
    pass


@dataclass(frozen=True)
class FlashPlan:
    port: str
    image: Path
    baud: int = DEFAULT_BAUD
    erase: bool = True
    address: int = 0
    flash_size: str = "detect"

    def esptool_command(self) -> list[str]:
        """The same steps as esptool command lines (`python -m esptool ...`)."""
        base = [sys.executable, "-m", "esptool", "--chip", "esp8266", "--port", self.port, "--baud", str(self.baud)]
        cmds = [base + ["erase-flash"]] if self.erase else []
        cmds.append(base + ["write-flash", "--flash-size", self.flash_size, f"{self.address:#x}", str(self.image)])
        return cmds

    def describe(self) -> str:
        return "\n".join(shlex.join(c) for c in self.esptool_command())


@dataclass
class FlashResult:
    chip: str
    features: list[str] = field(default_factory=list)
    mac: str = ""
    image_bytes: int = 0


def check_image(path: Path) -> bytes:
    """The image's bytes if it looks like an ESP8266 application image."""
    path = Path(path)
    hint = f"download ESP8266_GENERIC v1.28.x (.bin) from {DOWNLOAD_URL}"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FlashError(f"cannot read the image {path}: {e.strerror or e}; {hint}") from e
    if not data:
        raise FlashError(f"{path} is empty; {hint}")
    if data[:4] == b"\x7fELF":
        raise FlashError(f"{path} is an ELF file, not a flash image; {hint}")
    if data[:4] == b"UF2\n":
        raise FlashError(f"{path} is a UF2 file (for other boards); {hint}")
    if data[0] != _ESP_IMAGE_MAGIC:
        raise FlashError(f"{path} does not start with the ESP image magic 0xE9 (got {data[0]:#04x}): not a flash "
                         f"image for address 0; {hint}")
    if len(data) > _MAX_IMAGE:
        raise FlashError(f"{path} has {len(data)} bytes, more than the D1 mini's 4 MB flash; {hint}")
    return data


def refuse_virtual(port: str) -> None:
    if is_virtual(port):
        raise VirtualBoardError(f"{port} is a pty: virtual boards run the MicroPython unix port; nothing to flash")


def _esptool_api():
    import esptool.cmds
    return esptool.cmds


def _make_logger(say: Callable[[str], None], progress: Progress | None):
    """A logger of esp-pylib's interface (EspLogBase, what esptool 5 logs
    through), forwarding to callbacks."""
    from esp_pylib.logger import EspLogBase

    def text(args) -> str:
        return " ".join(str(a) for a in args).strip()

    class Logger(EspLogBase):
        stage_name = "write"

        def print(self, *args, **kwargs):
            if line := kwargs.get("sep", " ").join(str(a) for a in args).strip():
                say(line)

        def note(self, *args):
            say(f"note: {text(args)}")

        def hint(self, *args):
            say(f"hint: {text(args)}")

        def debug(self, *args):
            pass

        def warn(self, *args, suggestion=None):
            say(f"warning: {text(args)}" + (f" ({suggestion})" if suggestion else ""))

        def err(self, *args, suggestion=None):
            say(f"error: {text(args)}" + (f" ({suggestion})" if suggestion else ""))

        def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
            if progress:
                progress(self.stage_name, int(cur_iter), int(total_iters))

        def set_verbosity(self, mode):
            pass

    return Logger()


def _hint(message: str) -> str:
    lower = message.lower()
    if "failed to connect" in lower or "no serial data" in lower or "timed out" in lower:
        return ("the board did not answer its bootloader. Use a data cable; close any program holding the port "
                "(miniterm, mpremote, a running `hil` command); if the auto-reset does not work, hold FLASH "
                "(GPIO0 low) while pressing RST; a lower --baud helps with long cables")
    if "permission denied" in lower:
        return "no permission on the port: add yourself to the dialout group (then log in again)"
    if "could not open port" in lower or "no such file" in lower:
        return "the port is gone: is the board plugged in? (`hil boards` lists what is attached)"
    return "see esptool's messages above"


def flash(plan: FlashPlan, say: Callable[[str], None] = lambda m: None, progress: Progress | None = None,
          api=None) -> FlashResult:
    """Detect the chip, erase, write the image, hard-reset into MicroPython.

    `api` is esptool.cmds (a test passes a fake with the same functions).
    """
    refuse_virtual(plan.port)
    data = check_image(plan.image)
    api = api or _esptool_api()
    from esptool.logger import EspLog, log
    from esptool.util import FatalError, NotImplementedInROMError
    import serial

    logger = _make_logger(say, progress)
    previous = EspLog.instance
    log.set_logger(logger)
    try:
        with api.detect_chip(plan.port, baud=ROM_BAUD) as esp:
            chip = esp.CHIP_NAME
            if chip != CHIP:
                raise FlashError(f"{plan.port} has an {chip}, not an {CHIP}: this rig's boards are ESP8266 D1 minis; "
                                 "check the port (`hil boards`) or flash that board with its own MicroPython image")
            result = FlashResult(chip=esp.get_chip_description(), features=list(esp.get_chip_features()),
                                 mac=":".join(f"{b:02x}" for b in esp.read_mac()), image_bytes=len(data))
            say(f"{result.chip} ({', '.join(result.features)}), MAC {result.mac}")
            esp = api.run_stub(esp)
            if plan.baud > ROM_BAUD:
                try:
                    esp.change_baud(plan.baud)
                except NotImplementedInROMError:
                    say(f"the ROM cannot change the baud rate; staying at {ROM_BAUD}")
            api.attach_flash(esp)
            if plan.erase:
                logger.stage_name = "erase"
                if progress:
                    progress("erase", 0, 1)
                api.erase_flash(esp)
                if progress:
                    progress("erase", 1, 1)
            logger.stage_name = "write"
            api.write_flash(esp, [(plan.address, data)], flash_size=plan.flash_size)
            api.reset_chip(esp, "hard-reset")
            return result
    except (FatalError, serial.SerialException, OSError) as e:
        raise FlashError(f"esptool on {plan.port}: {e}\nhint: {_hint(str(e))}\nthe same by hand:\n{plan.describe()}") from e
    finally:
        EspLog.instance = previous
