"""The USB commands (`hil boards|flash|deploy|play|monitor`) where they can run
without boards: fake USB ports, the virtual rig's real ptys, a real mosquitto."""
from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import serial.tools.list_ports
from rich.console import Console
from serial.tools.list_ports_common import ListPortInfo

from hil.cli import bench, ui
from hil.rig import discover
from hil.net.broker import Mosquitto
from hil.rig.deploy import MPY_SHORTFALL
from hil.sim.model import NO_ROMFS, board_model
from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "captures" / "sx631_aux_3ph.p1"


@pytest.fixture
def out(monkeypatch):
    """What the commands print: (stdout, stderr) buffers."""
    stdout, stderr = io.StringIO(), io.StringIO()
    shown = Console(file=stdout, width=220, highlight=False)
    monkeypatch.setattr(bench, "console", shown)
    monkeypatch.setattr(ui, "console", shown)  # the progress bars' (hil.cli.ui.progress_bar)
    monkeypatch.setattr(ui, "err_console", Console(file=stderr, width=220, highlight=False))
    return stdout, stderr


def run(*argv) -> int:
    return bench.main([str(a) for a in argv])


# --- boards ---

def _port(device, vid, pid, serial_number=None, location=None, description="USB2.0-Serial"):
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.serial_number, info.location, info.description = (
        vid, pid, serial_number, location, description)
    return info


@pytest.fixture
def fake_ports(monkeypatch):
    attached = [_port("/dev/ttyUSB0", 0x1A86, 0x7523, location="1-1.2:1.0"),
                _port("/dev/ttyUSB1", 0x1A86, 0x7523, location="1-1.3:1.0"),
                _port("/dev/ttyACM0", 0x2341, 0x0043, serial_number="7503", description="Arduino Uno")]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: list(attached))
    return attached


def test_boards_lists_ports_and_role_bindings(out, fake_ports, tmp_path):
    cfg = tmp_path / "rig.json"
    cfg.write_text(json.dumps({"boards": {"emulator": "location:1-1.2", "bridge": "serial:nope"}}))
    assert run("boards", "--rig-config", cfg) == 0
    text = out[0].getvalue()
    row0 = next(line for line in text.splitlines() if "/dev/ttyUSB0" in line)
    assert "1a86:7523" in row0 and "CH340" in row0 and "1-1.2" in row0 and "emulator" in row0
    assert "location:1-1.2" in row0
    assert "/dev/ttyACM0" not in text  # not an ESP8266 adapter
    assert "bridge:" in text and "matches no attached board" in text


def test_boards_shows_the_udev_id_path_a_labgrid_exporter_matches(out, fake_ports, monkeypatch, tmp_path):
    # /dev/null stands in for a tty: a character device (1:3) the fake udev database knows.
    fake_ports.append(_port("/dev/null", 0x1A86, 0x7523, location="1-1.4:1.0"))
    (tmp_path / "c1:3").write_text("I:123\nE:ID_BUS=usb\nE:ID_PATH=platform-3f980000.usb-usb-0:1.4:1.0\n")
    monkeypatch.setattr(discover, "UDEV_DATA", tmp_path)
    assert run("boards") == 0
    rows = out[0].getvalue().splitlines()
    assert "platform-3f980000.usb-usb-0:1.4:1.0" in next(line for line in rows if "/dev/null" in line)
    assert "ID_PATH" in next(line for line in rows if "VID:PID" in line)
    # A port udev does not know shows none.
    assert "usb-0:" not in next(line for line in rows if "/dev/ttyUSB0" in line)


def test_boards_all_and_option_override(out, fake_ports):
    assert run("boards", "--all", "--bridge-port", "location:1-1.3") == 0
    text = out[0].getvalue()
    assert "/dev/ttyACM0" in text and "serial:7503" in text
    assert "bridge" in next(line for line in text.splitlines() if "/dev/ttyUSB1" in line)


def test_boards_none_attached(out, monkeypatch):
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: [])
    assert run("boards") == 1
    assert "no ESP8266 board attached" in out[0].getvalue()


def test_commands_refuse_an_ambiguous_port(out, fake_ports, tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    assert run("flash", "--image", image) == 2
    err = out[1].getvalue()
    assert "2 ESP8266 boards attached" in err and "--port location:1-1.3" in err


# --- on the virtual rig ---

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with VirtualRig(tmp_path_factory.mktemp("sim"), board_speed=UNTIMED_SPEED) as rig:
        yield rig


def test_flash_refuses_a_virtual_board(out, sim, tmp_path):
    image = tmp_path / "ESP8266_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    assert run("flash", "--port", sim.ports["bridge"], "--image", image) == 2
    assert "virtual boards run the MicroPython unix port; nothing to flash" in out[1].getvalue()


def test_deploy_emulator_then_play(out, sim):
    assert run("deploy", "--role", "emulator", "--port", sim.ports["emulator"]) == 0
    text = out[0].getvalue()
    assert "deployed" in text and "emulator answers: protocol 1" in text
    assert (sim.flash["emulator"] / "protocol.mpy").exists()

    assert run("play", "--port", sim.ports["emulator"], CAPTURE, "--interval-ms", 0, "--count", 2) == 0
    text = out[0].getvalue()
    size = len(CAPTURE.read_bytes())
    assert f"sent #1 {'captures/' + CAPTURE.name}: {size} bytes" in text
    assert "sent #2" in text and "played 2 telegrams" in text
    assert (sim.flash["emulator"] / "captures" / CAPTURE.name).read_bytes() == CAPTURE.read_bytes()

    # the same file again: no upload, still plays
    assert run("play", "--port", sim.ports["emulator"], CAPTURE, "--interval-ms", 0) == 0
    assert "is on the emulator already" in out[0].getvalue()


def test_play_without_emulator_firmware_says_deploy(out, tmp_path):
    with VirtualRig(tmp_path / "sim", board_speed=UNTIMED_SPEED) as fresh:
        assert run("play", "--port", fresh.ports["emulator"], CAPTURE, "--interval-ms", 0) == 2
    assert "hil deploy --role emulator" in out[1].getvalue()


def _rig_config(tmp_path, **extra) -> Path:
    cfg = {"wifi": {"ssid": "bench", "password": "bench-pw"},
           "broker": {"host": "192.0.2.10", "port": 1884, "user": "p1bridge", "password": "s3cret"},
           "base_topic": "p1test", "bridge": {"boot_window_ms": 500}}
    cfg.update(extra)
    path = tmp_path / "rig.json"
    path.write_text(json.dumps(cfg))
    return path


def test_deploy_bridge_writes_config_json(out, sim, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "extra_mod.py").write_text("X = 1\n")
    cfg = _rig_config(tmp_path)
    assert run("deploy", "--role", "bridge", "--port", sim.ports["bridge"], "--rig-config", cfg,
               "--bridge-lib", lib, "--broker-port", 1885, "--bridge-deploy", "mpy", "--no-reset") == 0
    # --no-reset: a bridge that ran would have detached its REPL from the module's board for the next deploys
    err = out[1].getvalue()
    assert "the bridge's RX (GPIO3) is also the P1 line" in err
    if board_model().faithful:  # the approximate board says it has no ROMFS only when romfs is asked for
        assert "does not fit the ESP8266" in err and f"about {MPY_SHORTFALL:,} B more than the chip has" in err
    flash = sim.flash["bridge"]
    written = json.loads((flash / "config.json").read_text())
    assert written == {"wifi": {"ssid": "bench", "password": "bench-pw"},
                       "mqtt": {"host": "192.0.2.10", "port": 1885, "user": "p1bridge", "password": "s3cret"},
                       "base_topic": "p1test", "boot_window_ms": 500}
    assert (flash / "bridge.mpy").exists() and (flash / "main.py").exists() and (flash / "extra_mod.mpy").exists()


@pytest.mark.skipif(not board_model().faithful, reason=f"{board_model().name}: it has no ROMFS partition")
def test_deploy_bridge_into_romfs_leaves_only_main_and_config_on_the_filesystem(out, sim, tmp_path):
    cfg = _rig_config(tmp_path)
    flash = sim.flash["bridge"]
    (flash / "bridge.mpy").write_bytes(b"M")  # an earlier .mpy install: it would shadow ROMFS
    assert run("deploy", "--role", "bridge", "--port", sim.ports["bridge"], "--rig-config", cfg,
               "--no-reset") == 0, "romfs is the default"
    assert "ROMFS" in out[0].getvalue()
    on_flash = {p.name for p in flash.iterdir()}
    assert {"config.json", "main.py"} <= on_flash and not {n for n in on_flash if n.startswith("bridge")}, (
        f"the bridge's modules belong in ROMFS only (a copy on the filesystem shadows it): {sorted(on_flash)}")
    partition = (flash.parent / "romfs-partition").read_bytes()
    assert partition.startswith(b"\xd2\xcd\x31") and b"bridge_main.mpy" in partition
    assert len(partition) == 320 * 1024, "the FLASH_2M_ROMFS firmware's partition is 320 KB"


@pytest.mark.skipif(board_model().faithful, reason="the virtual ESP8266 has a ROMFS partition")
def test_deploy_bridge_on_the_approximate_board_falls_back_to_mpy_and_says_why(out, sim, tmp_path):
    assert run("deploy", "--role", "bridge", "--port", sim.ports["bridge"], "--rig-config", _rig_config(tmp_path),
               "--no-reset") == 0
    assert NO_ROMFS in out[1].getvalue()
    assert (sim.flash["bridge"] / "bridge.mpy").exists(), "the bridge's modules belong on its filesystem there"


def test_deploy_bridge_frozen_puts_only_main_and_config_and_removes_old_copies(out, sim, tmp_path):
    flash = sim.flash["bridge"]
    (flash / "bridge.mpy").write_bytes(b"M")  # an earlier .mpy install: it would shadow the frozen modules
    assert run("deploy", "--role", "bridge", "--port", sim.ports["bridge"], "--rig-config", _rig_config(tmp_path),
               "--bridge-deploy", "frozen", "--no-reset") == 0
    on_flash = {p.name for p in flash.iterdir()}
    assert {"config.json", "main.py"} <= on_flash and not {n for n in on_flash if n.startswith("bridge")}, (
        f"frozen, the bridge's modules are in the image only: {sorted(on_flash)}")


def test_deploy_bridge_deploy_is_for_the_bridge_only(out, tmp_path):
    assert run("deploy", "--role", "emulator", "--port", "/dev/null", "--bridge-deploy", "romfs") == 2
    assert "--bridge-deploy is for the bridge" in out[1].getvalue()


def test_deploy_bridge_checks_config_before_touching_the_board(out, tmp_path):
    cfg = _rig_config(tmp_path, base_topic="p1/#")
    # the port does not matter: the check fails first
    assert run("deploy", "--role", "bridge", "--port", "/dev/null", "--rig-config", cfg) == 2
    assert "base_topic" in out[1].getvalue()
    no_wifi = tmp_path / "nowifi.json"
    no_wifi.write_text(json.dumps({"broker": {"host": "192.0.2.10"}}))
    assert run("deploy", "--role", "bridge", "--port", "/dev/null", "--rig-config", no_wifi) == 2
    assert "needs WiFi" in out[1].getvalue()


# --- monitor against a real broker ---

def test_monitor_shows_latest_values_and_status(out, tmp_path):
    with Mosquitto(workdir=tmp_path / "broker") as broker:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-publisher")
        pub.username_pw_set(broker.user, broker.password)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        try:
            pub.publish("p1mon/online", "online", qos=1, retain=True).wait_for_publish(5)
            pub.publish("p1mon/status", json.dumps({"version": "0.3.0", "telegrams": 12, "crc_errors": 0}),
                        qos=1, retain=True).wait_for_publish(5)
            stop = threading.Event()

            def publish_values():
                n = 0
                while not stop.is_set():
                    n += 1
                    pub.publish("p1mon/instantaneous_voltage_in_phase_L1", f"{230 + n / 10:.1f}", qos=1)
                    pub.publish("p1mon/positive_energy_total", "812.421", qos=1)
                    stop.wait(0.2)

            publisher = threading.Thread(target=publish_values)
            publisher.start()
            started = time.monotonic()
            try:
                code = run("monitor", "--broker-host", broker.host, "--broker-port", broker.port,
                           "--user", broker.user, "--password", broker.password, "--base-topic", "p1mon",
                           "--duration", 2)
            finally:
                stop.set()
                publisher.join()
            assert 1.5 < time.monotonic() - started < 15
        finally:
            pub.loop_stop()
            pub.disconnect()
    assert code == 0
    text = out[0].getvalue()
    assert "instantaneous_voltage_in_phase_L1" in text and "positive_energy_total" in text and "812.421" in text
    assert "crc_errors" in text and "0.3.0" in text and "online" in text
    rows = re.findall(r"positive_energy_total\s*│\s*812\.421\s*│\s*[\d.]+ s\s*│\s*(\d+)", text)
    assert rows and int(rows[-1]) >= 5  # kept counting while it ran


def test_monitor_unreachable_broker(out):
    assert run("monitor", "--broker-host", "127.0.0.1", "--broker-port", 1, "--base-topic", "x",
               "--duration", 1) == 2
    assert out[1].getvalue() == "error: MQTT broker 127.0.0.1:1: cannot connect: Connection refused\n"


def test_deploy_catches_a_running_bridge_in_its_boot_window(monkeypatch):
    """A real bridge has detached its REPL: hard reset (DTR/RTS) and catch its
    boot window (hil.rig.board.Board.reset_into_repl, as the rig does); a
    virtual one gets the hint."""
    from hil.rig import reset
    from hil.rig.board import BoardError

    class Board:
        role, port = "bridge", "/dev/ttyUSB0"

        def __init__(self):
            self.calls = []

        def enter_raw_repl(self):
            self.calls.append("enter")
            raise BoardError("bridge: could not enter the raw REPL")

        def reset_into_repl(self, reset_it):
            reset_it()
            self.calls.append("caught")

    monkeypatch.setattr(reset, "reset_board", lambda board, wait_for=None: board.calls.append("reset"))
    board = Board()
    bench._open_repl(board, virtual=False)
    assert board.calls == ["enter", "reset", "caught"]
    with pytest.raises(BoardError, match=r"VirtualRig\.reset\('bridge'\)"):
        bench._open_repl(Board(), virtual=True)
