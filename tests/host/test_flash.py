"""hil.rig.flash and hil.rig.reset without hardware: fake serial lines, a fake
esptool API with esptool's real logger, real ptys for the virtual-board errors."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from esp_pylib import serial_reset
from esptool.logger import EspLog, log
from esptool.util import FatalError

from hil.rig import flash as flash_mod
from hil.rig import reset as reset_mod
from hil.rig.flash import FlashError, FlashPlan, VirtualBoardError, check_image, flash


@pytest.fixture
def pty_path():
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "ESP8266_GENERIC-v1.28.0.bin"
    path.write_bytes(bytes([0xE9, 0x03, 0x02, 0x40]) + bytes(4092))
    return path


# --- reset: the DTR/RTS sequence ---

class FakeSerial:
    """Records modem-line writes; `dtr` reads back the last DTR as pyserial does."""

    def __init__(self, port="/dev/ttyUSB0"):
        self.port = port
        self.dtr = True
        self.events: list[tuple[str, object]] = []

    def setDTR(self, value):
        self.dtr = bool(value)
        self.events.append(("DTR", bool(value)))

    def setRTS(self, value):
        self.events.append(("RTS", bool(value)))


@pytest.fixture
def timeline(monkeypatch):
    def sleep(seconds):
        events.append(("sleep", seconds))

    events: list = []
    monkeypatch.setattr(serial_reset.time, "sleep", sleep)  # esptool's sequences wait there
    return events


def _lines(events):
    """Modem-line level after each write, dropping the re-writes of an unchanged DTR."""
    out, state = [], {"DTR": None, "RTS": None}
    for name, value in events:
        if name == "sleep":
            out.append(("sleep", value))
        elif state[name] != value:
            state[name] = value
            out.append((name, value))
    return out


def test_hard_reset_pulses_en_with_gpio0_high(timeline):
    port = FakeSerial()
    reset_mod.hard_reset(port)
    assert _lines(port.events) == [("DTR", False), ("RTS", True), ("RTS", False)]
    # GPIO0 (DTR) never asserted while EN (RTS) is released: run mode, not the bootloader
    assert ("DTR", True) not in port.events
    assert timeline == [("sleep", reset_mod.HOLD_S)]


def test_hard_reset_rewrites_dtr_after_each_rts_like_esptool(timeline):
    port = FakeSerial()
    reset_mod.hard_reset(port)
    rts = [i for i, e in enumerate(port.events) if e[0] == "RTS"]
    assert all(port.events[i + 1] == ("DTR", False) for i in rts)


def test_bootloader_reset_is_esptools_classic_sequence(timeline):
    port = FakeSerial()
    reset_mod.bootloader_reset(port)
    seq = _lines(port.events)
    assert seq == [("DTR", False), ("RTS", True), ("DTR", True), ("RTS", False), ("DTR", False)]
    assert timeline == [("sleep", reset_mod.HOLD_S), ("sleep", reset_mod.BOOT_RELEASE_S)]


def test_reset_refuses_a_pty(pty_path):
    assert reset_mod.is_virtual(pty_path)
    with pytest.raises(reset_mod.VirtualBoardError, match=r"VirtualRig\.reset\(ROLE\)"):
        reset_mod.hard_reset(FakeSerial(pty_path))
    with pytest.raises(reset_mod.VirtualBoardError):
        reset_mod.reset_port(pty_path)


def test_is_virtual_false_for_other_paths(tmp_path):
    assert not reset_mod.is_virtual("/dev/ttyUSB99")
    assert not reset_mod.is_virtual(str(tmp_path))


class FakeTransport:
    def __init__(self, output: bytes = b""):
        self.serial = FakeSerial()
        self.in_raw_repl = True
        self.output = output

    def read_until(self, min_num_bytes, ending, timeout=10):
        i = self.output.find(ending)
        return self.output if i < 0 else self.output[:i + len(ending)]


class FakeBoard:
    role = "bridge"
    port = "/dev/ttyUSB0"

    def __init__(self, output: bytes = b""):
        self.transport = FakeTransport(output)


def test_reset_board_uses_the_boards_own_port(timeline):
    board = FakeBoard()
    assert reset_mod.reset_board(board) == ""
    assert ("RTS", True) in board.transport.serial.events
    assert board.transport.in_raw_repl is False  # the next command re-enters the raw REPL


def test_reset_board_waits_for_the_boot_window(timeline):
    boot = b"\x00garbage at 74880\r\nbridge: boot window 2000 ms: press Ctrl-C to stay at the REPL\r\n"
    out = reset_mod.reset_board(FakeBoard(boot), wait_for=b"press Ctrl-C to stay at the REPL")
    assert out.endswith("press Ctrl-C to stay at the REPL")
    with pytest.raises(reset_mod.ResetError, match="not seen within 3 s"):
        reset_mod.reset_board(FakeBoard(b"MicroPython v1.28.0\r\n>>> "), wait_for=b"press Ctrl-C", timeout=3)


# --- flash: arguments, image checks, errors ---

def test_esptool_command_line(image):
    plan = FlashPlan("/dev/ttyUSB0", image)
    erase, write = plan.esptool_command()
    assert erase[1:] == ["-m", "esptool", "--chip", "esp8266", "--port", "/dev/ttyUSB0", "--baud", "460800",
                         "erase-flash"]
    assert write[-5:] == ["write-flash", "--flash-size", "detect", "0x0", str(image)]
    assert len(FlashPlan("/dev/ttyUSB0", image, erase=False, baud=115200).esptool_command()) == 1
    assert "--baud 115200" in FlashPlan("/dev/ttyUSB0", image, baud=115200).describe()


@pytest.mark.parametrize("content, complaint", [
    (b"", "empty"),
    (b"\x7fELF" + bytes(60), "ELF"),
    (b"UF2\n" + bytes(60), "UF2"),
    (b"PK\x03\x04" + bytes(60), "magic 0xE9"),
])
def test_image_checks(tmp_path, content, complaint):
    path = tmp_path / "firmware.bin"
    path.write_bytes(content)
    with pytest.raises(FlashError, match=complaint) as e:
        check_image(path)
    assert flash_mod.DOWNLOAD_URL in str(e.value)


def test_missing_image_says_where_to_get_it(tmp_path):
    with pytest.raises(FlashError, match=r"cannot read .*micropython.org/download/ESP8266_GENERIC"):
        check_image(tmp_path / "nope.bin")


def test_flash_refuses_a_virtual_board(pty_path, image):
    with pytest.raises(VirtualBoardError, match="virtual boards run the MicroPython unix port; nothing to flash"):
        flash(FlashPlan(pty_path, image), api=object())


class FakeEsp:
    def __init__(self, chip="ESP8266", calls=None):
        self.CHIP_NAME = chip
        self.calls = calls if calls is not None else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.calls.append(("close",))

    def get_chip_description(self):
        return "ESP8266EX"

    def get_chip_features(self):
        return ["WiFi"]

    def read_mac(self):
        return (0x5C, 0xCF, 0x7F, 0x01, 0x02, 0x03)

    def change_baud(self, baud):
        self.calls.append(("change_baud", baud))


class FakeApi:
    """esptool.cmds' functions as flash() uses them, logging through esptool's logger."""

    def __init__(self, chip="ESP8266", fail_at=None):
        self.calls: list[tuple] = []
        self.chip, self.fail_at = chip, fail_at

    def _maybe_fail(self, name):
        if self.fail_at == name:
            raise FatalError("Failed to connect to ESP8266: No serial data received.")

    def detect_chip(self, port, baud):
        self.calls.append(("detect_chip", port, baud))
        self._maybe_fail("detect_chip")
        log.print("Detecting chip type... ESP8266")
        return FakeEsp(self.chip, self.calls)

    def run_stub(self, esp):
        self.calls.append(("run_stub",))
        return esp

    def attach_flash(self, esp):
        self.calls.append(("attach_flash",))

    def erase_flash(self, esp):
        self.calls.append(("erase_flash",))
        self._maybe_fail("erase_flash")

    def write_flash(self, esp, addr_data, flash_size):
        (address, data), = addr_data
        self.calls.append(("write_flash", address, len(data), flash_size))
        with log.progress(total=len(data), unit="B") as progress:  # esptool's own progress path
            for _ in range(0, len(data), 1024):
                progress.update(advance=1024)

    def reset_chip(self, esp, mode):
        self.calls.append(("reset_chip", mode))


def test_flash_calls_esptool_in_order(image):
    api, said, progress = FakeApi(), [], []
    before = EspLog.instance
    result = flash(FlashPlan("/dev/ttyUSB7", image), say=said.append,
                   progress=lambda stage, done, total: progress.append((stage, done, total)), api=api)
    assert api.calls == [("detect_chip", "/dev/ttyUSB7", 115200), ("run_stub",), ("change_baud", 460800),
                         ("attach_flash",), ("erase_flash",), ("write_flash", 0, 4096, "detect"),
                         ("reset_chip", "hard-reset"), ("close",)]
    assert result.chip == "ESP8266EX" and result.mac == "5c:cf:7f:01:02:03" and result.image_bytes == 4096
    assert "Detecting chip type... ESP8266" in said
    assert progress[0] == ("erase", 0, 1) and ("erase", 1, 1) in progress
    assert progress[-1] == ("write", 4096, 4096)
    assert EspLog.instance is before  # esptool's logger is given back


def test_flash_without_erase_at_rom_baud(image):
    api = FakeApi()
    flash(FlashPlan("/dev/ttyUSB7", image, erase=False, baud=115200), api=api)
    names = [c[0] for c in api.calls]
    assert "erase_flash" not in names and "change_baud" not in names


def test_wrong_chip_is_refused_before_writing(image):
    api = FakeApi(chip="ESP32")
    with pytest.raises(FlashError, match="has an ESP32, not an ESP8266"):
        flash(FlashPlan("/dev/ttyUSB7", image), api=api)
    assert not any(c[0] in ("erase_flash", "write_flash") for c in api.calls)


@pytest.mark.parametrize("fail_at", ["detect_chip", "erase_flash"])
def test_esptool_errors_carry_a_hint_and_the_command(image, fail_at):
    before = EspLog.instance
    with pytest.raises(FlashError) as e:
        flash(FlashPlan("/dev/ttyUSB7", image), api=FakeApi(fail_at=fail_at))
    msg = str(e.value)
    assert "No serial data received" in msg and "hold FLASH" in msg
    assert "esptool --chip esp8266 --port /dev/ttyUSB7 --baud 460800 write-flash" in msg
    assert EspLog.instance is before
