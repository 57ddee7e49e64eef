"""hil.rig.discover with fake ports: no boards needed."""
from __future__ import annotations

import threading

import pytest
import serial.tools.list_ports
from serial.tools.list_ports_common import ListPortInfo

from hil.rig import discover
from hil.rig.discover import AmbiguousBoardError, NoBoardError


def port(device, vid=0x1A86, pid=0x7523, serial_number=None, location=None, description="USB Serial"):
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.serial_number, info.location = vid, pid, serial_number, location
    info.description = description
    return info


@pytest.fixture
def ports(monkeypatch):
    attached: list[ListPortInfo] = []
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: list(attached))
    return attached


def test_finds_esp_adapters_only(ports):
    ports += [port("/dev/ttyUSB0", location="1-1.2:1.0"),
              port("/dev/ttyUSB1", 0x10C4, 0xEA60, serial_number="0001", location="1-1.3:1.0"),
              port("/dev/ttyUSB2", 0x0403, 0x6015, serial_number="DN04ABCD"),
              port("/dev/ttyACM0", 0x2341, 0x0043, description="Arduino Uno"),
              port("/dev/ttyS0", None, None)]
    boards = discover.find_boards()
    assert [(b.device, b.adapter, b.usb_id) for b in boards] == [
        ("/dev/ttyUSB0", "CH340", "1a86:7523"), ("/dev/ttyUSB1", "CP2102", "10c4:ea60"),
        ("/dev/ttyUSB2", "FTDI", "0403:6015")]
    assert len(discover.list_ports()) == 4  # every USB port, for `hil boards --all`


def test_single_board_resolves_without_binding(ports):
    ports.append(port("/dev/ttyUSB0", location="1-1.2:1.0"))
    assert discover.resolve(None, "bridge") == "/dev/ttyUSB0"


def test_none_attached_is_a_clear_error(ports):
    ports.append(port("/dev/ttyACM0", 0x2341, 0x0043))
    with pytest.raises(NoBoardError, match=r"no ESP8266 board attached .*1a86:7523.*--port PATH"):
        discover.resolve(None, "bridge")


def test_two_boards_without_binding_list_the_options(ports):
    ports += [port("/dev/ttyUSB0", location="1-1.2:1.0"), port("/dev/ttyUSB1", location="1-1.3:1.0")]
    with pytest.raises(AmbiguousBoardError) as e:
        discover.resolve(None, "bridge", option="--bridge-port")
    msg = str(e.value)
    assert "2 ESP8266 boards attached" in msg
    assert "--bridge-port location:1-1.2" in msg and "--bridge-port location:1-1.3" in msg
    assert "/dev/ttyUSB0" in msg and "no serial number" in msg


def test_binding_by_location_survives_renumbering(ports):
    ports += [port("/dev/ttyUSB0", location="1-1.2:1.0"), port("/dev/ttyUSB1", location="1-1.3:1.0")]
    assert discover.resolve("location:1-1.3") == "/dev/ttyUSB1"
    ports[:] = [port("/dev/ttyUSB0", location="1-1.3:1.0")]  # replugged: the kernel renamed it
    assert discover.resolve("location:1-1.3") == "/dev/ttyUSB0"
    assert discover.resolve("location:1-1.3:1.0") == "/dev/ttyUSB0"  # the interface form works too


def test_binding_by_serial(ports):
    ports += [port("/dev/ttyUSB0", 0x10C4, 0xEA60, serial_number="AAA"),
              port("/dev/ttyUSB1", 0x10C4, 0xEA60, serial_number="BBB")]
    assert discover.resolve("serial:BBB") == "/dev/ttyUSB1"
    with pytest.raises(NoBoardError, match="no attached port matches serial:CCC"):
        discover.resolve("serial:CCC")


def test_shared_serial_numbers_point_to_location(ports):
    ports += [port("/dev/ttyUSB0", 0x10C4, 0xEA60, serial_number="0001", location="1-1.2"),
              port("/dev/ttyUSB1", 0x10C4, 0xEA60, serial_number="0001", location="1-1.3")]
    with pytest.raises(AmbiguousBoardError, match="bind by location"):
        discover.resolve("serial:0001")
    boards = discover.find_boards()
    assert [b.binding(boards) for b in boards] == ["location:1-1.2", "location:1-1.3"]


def test_device_path_passes_through(ports, tmp_path):
    fake = tmp_path / "ttyFAKE"
    fake.touch()
    assert discover.resolve(str(fake)) == str(fake)
    with pytest.raises(NoBoardError, match="does not exist"):
        discover.resolve(str(tmp_path / "gone"))


def test_roles_one_bound_other_takes_the_rest(ports):
    ports += [port("/dev/ttyUSB0", location="1-1.2"), port("/dev/ttyUSB1", location="1-1.3")]
    assert discover.resolve_roles({"emulator": "location:1-1.3", "bridge": None}) == {
        "emulator": "/dev/ttyUSB1", "bridge": "/dev/ttyUSB0"}
    with pytest.raises(AmbiguousBoardError, match="no binding for emulator and bridge"):
        discover.resolve_roles({"emulator": None, "bridge": None},
                               {"emulator": "--emulator-port", "bridge": "--bridge-port"})


def test_role_of(ports):
    ports += [port("/dev/ttyUSB0", location="1-1.2"), port("/dev/ttyUSB1", serial_number="X")]
    b0, b1 = discover.find_boards()
    bindings = {"emulator": "location:1-1.2", "bridge": "serial:X"}
    assert (discover.role_of(b0, bindings), discover.role_of(b1, bindings)) == ("emulator", "bridge")


def test_wait_for_port_sees_the_board_come_back(ports):
    timer = threading.Timer(0.3, lambda: ports.append(port("/dev/ttyUSB3", location="1-1.2:1.0")))
    timer.start()
    try:
        assert discover.wait_for_port("location:1-1.2", timeout=5, interval=0.05) == "/dev/ttyUSB3"
    finally:
        timer.cancel()
    with pytest.raises(NoBoardError, match="waited"):
        discover.wait_for_port("location:9-9", timeout=0.2, interval=0.05)
