"""The virtual ESP8266 keeps the chip's time where the network and the boot are
concerned: how long a reset takes to reach main.py, how long WiFi takes to
associate (after boot, connect() and a drop), and how much a TCP socket takes
before a write to a peer that acknowledges nothing stops (lwIP's send buffer).

Each test runs a small firmware on a board of a fresh virtual rig and reads
what it prints on its USB serial port; times come from the board's own
ticks_ms(), which counts the host's CLOCK_MONOTONIC as the rig's clock does.
The chip's figures and their sources: docs/FIDELITY.md.
"""
from __future__ import annotations

import os
import time

import pytest

from hil.net.broker import Mosquitto
from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED

from test_virtual_esp8266 import SerialLog, needs_virtual_esp8266

# The chip's figures the virtual board models (docs/FIDELITY.md).
CHIP_BOOT_MS = 271  # reset to user code (hal/_simboot.py)
ASSOC_MS = 2964  # connect() to STAT_GOT_IP with DHCP (hal/network.py)
TCP_SND_BUF = 1072  # esp-open-lwip's 2 * TCP_MSS (cmod/vboard/vboard_lwip.c)
LINUX_MIN_RCVBUF = 2304  # the relay's receive buffer: Linux's least (hil/sim/lan.py)
TICKS_PERIOD = 2**30  # time.ticks_ms() wraps here on the 32-bit board


def _ticks(host_monotonic: float) -> int:
    return int(host_monotonic * 1000) % TICKS_PERIOD


def _ticks_diff(a: int, b: int) -> int:
    return (a - b + TICKS_PERIOD // 2) % TICKS_PERIOD - TICKS_PERIOD // 2


@pytest.fixture
def sim(tmp_path):
    with VirtualRig(tmp_path / "sim", board_speed=UNTIMED_SPEED) as rig:
        yield rig


def _flash(sim: VirtualRig, role: str, files: dict[str, str]) -> SerialLog:
    for name, content in files.items():
        (sim.flash[role] / name).write_text(content)
    return SerialLog(os.path.realpath(sim.ports[role]))


BOOT_MAIN = "import time\nprint('MAIN AT', time.ticks_ms())\n"


@needs_virtual_esp8266
def test_a_reset_reaches_main_py_after_the_chips_boot_time(sim):
    log = _flash(sim, "emulator", {"main.py": BOOT_MAIN})
    try:
        sim.reset("emulator")
        main_at = int(log.wait_for(r"MAIN AT (\d+)").group(1))
        reset_at = sim.board("emulator").reset_at[-1]
        boot_ms = _ticks_diff(main_at, _ticks(reset_at))
        print(f"reset to main.py: {boot_ms} ms (chip: {CHIP_BOOT_MS} ms)")
        # The host adds its own start-up (a few ms) on top of the chip's.
        assert CHIP_BOOT_MS <= boot_ms <= CHIP_BOOT_MS + 250, (
            f"main.py ran {boot_ms} ms after the reset; an ESP8266 takes {CHIP_BOOT_MS} ms")
    finally:
        log.close()


@needs_virtual_esp8266
def test_a_soft_reboot_restarts_only_micropython(sim):
    log = _flash(sim, "emulator", {"main.py": BOOT_MAIN})
    try:
        sim.reset("emulator")
        log.wait_for(r"MAIN AT \d+")
        log.wait_for(r">>> ")
        sent = time.monotonic()
        log.port.write(b"\x04")  # Ctrl-D at the friendly REPL: soft reboot, main.py again
        main_at = int(log.wait_for(r"soft reboot[\s\S]*MAIN AT (\d+)").group(1))
        boot_ms = _ticks_diff(main_at, _ticks(sent))
        assert boot_ms < CHIP_BOOT_MS, f"a soft reboot took {boot_ms} ms: it went through the chip's boot ROM"
    finally:
        log.close()


WIFI_MAIN = """\
import network, time
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("rig-ap", "secret")
print("CONNECT AT", time.ticks_ms(), "STATUS", sta.status())
was = sta.status()
while True:
    now = sta.status()
    if now != was:
        print("STATUS", now, "AT", time.ticks_ms())
        was = now
    time.sleep_ms(5)
"""


@needs_virtual_esp8266
def test_wifi_takes_the_chips_association_time_after_connect_and_after_a_drop(sim):
    log = _flash(sim, "emulator", {"main.py": WIFI_MAIN})
    try:
        sim.reset("emulator")
        found = log.wait_for(r"CONNECT AT (\d+) STATUS (\d+)")
        connect_at, first = int(found.group(1)), int(found.group(2))
        assert first == 1, f"status {first} right after connect(); the chip is STAT_CONNECTING (1)"
        got_ip_at = int(log.wait_for(r"STATUS 5 AT (\d+)").group(1))
        took = _ticks_diff(got_ip_at, connect_at)
        print(f"connect() to GOT_IP: {took} ms (chip: {ASSOC_MS} ms)")
        assert ASSOC_MS <= took <= ASSOC_MS + 250, f"connect() to GOT_IP took {took} ms; the chip's {ASSOC_MS} ms"

        sim.set_wifi("emulator", False)
        log.wait_for(r"STATUS 3 AT \d+")  # STAT_NO_AP_FOUND: the firmware saw the drop
        restored = time.monotonic()
        sim.set_wifi("emulator", True)
        back = log.wait_for(r"STATUS 3 AT \d+\s+STATUS (\d+) AT (\d+)")
        assert back.group(1) == "1", "after the AP came back the station went straight to " + back.group(1)
        again = int(log.wait_for(r"STATUS 3 AT \d+\s+STATUS 1 AT \d+\s+STATUS 5 AT (\d+)").group(1))
        took = _ticks_diff(again, _ticks(restored))
        print(f"AP back to GOT_IP: {took} ms (chip: {ASSOC_MS} ms)")
        assert ASSOC_MS <= took <= ASSOC_MS + 250, f"the AP back to GOT_IP took {took} ms; the chip's {ASSOC_MS} ms"
    finally:
        log.close()


# A publisher as a firmware writes one with a plain socket: MQTT CONNECT, then
# QoS 0 PUBLISH packets on a non-blocking socket, counting what write() takes,
# until it takes nothing for 2 s (or 256 KB went, which no stall on the chip lets pass).
STALL_MAIN = """\
import network, socket, sys, time
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("rig-ap", "secret")
while not sta.isconnected():
    time.sleep_ms(20)
host, port, user, password = open("broker.txt").read().split()
def s16(b):
    return bytes((len(b) >> 8, len(b) & 255)) + b
body = s16(b"MQTT") + b"\\x04\\xc2\\x00\\x00" + s16(b"stall-test") + s16(user.encode()) + s16(password.encode())
s = socket.socket()
s.connect(socket.getaddrinfo(host, int(port))[0][-1])
s.write(bytes((0x10, len(body))) + body)
print("CONNACK", s.read(4))
topic = s16(b"stall/t")
pkt = bytes((0x30, len(topic) + 100)) + topic + b"v" * 100
s.setblocking(False)
print("READY")
sys.stdin.readline()
total, idle = 0, time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), idle) < 2000 and total < 256 * 1024:
    n = s.write(pkt)
    if n:
        total += n
        idle = time.ticks_ms()
    else:
        time.sleep_ms(10)
print("WROTE", total)
s.settimeout(1.0)
t0 = time.ticks_ms()
try:
    s.write(pkt)
    print("BLOCKING WRITE TOOK IT")
except OSError as e:
    print("BLOCKING WRITE", e.errno, "AFTER", time.ticks_diff(time.ticks_ms(), t0))
"""


@needs_virtual_esp8266
def test_a_write_to_a_broker_that_no_ack_reaches_stops_after_lwips_send_buffer(sim):
    """The WiFi goes (the rig's LAN forwards nothing): nothing the board sends is
    acknowledged, so its socket takes lwIP's TCP_SND_BUF and then no more."""
    with Mosquitto() as broker:
        port = sim.forward_broker(broker.host, broker.port)
        log = _flash(sim, "bridge", {"main.py": STALL_MAIN,
                                     "broker.txt": f"127.0.0.1 {port} {broker.user} {broker.password}\n"})
        try:
            sim.reset("bridge")
            log.wait_for(r"CONNACK b' \\x02\\x00\\x00'")
            log.wait_for(r"READY")
            sim.set_wifi("bridge", False)
            log.port.write(b"go\n")
            wrote = int(log.wait_for(r"WROTE (\d+)", timeout=30).group(1))
            print(f"written with nothing acknowledged: {wrote} B (chip: {TCP_SND_BUF} B)")
            # The relay's kernel acknowledges up to its receive buffer before
            # the relay stops reading: the one byte count the chip does not have.
            assert TCP_SND_BUF <= wrote <= TCP_SND_BUF + LINUX_MIN_RCVBUF, (
                f"the socket took {wrote} B with nothing acknowledged; lwIP's send buffer is {TCP_SND_BUF} B")
            blocked = log.wait_for(r"BLOCKING WRITE (\d+) AFTER (\d+)")
            # modlwip: a blocking socket waits out its timeout, then ETIMEDOUT.
            assert blocked.group(1) == "110", f"a blocking write failed with errno {blocked.group(1)}, not ETIMEDOUT"
            assert 1000 <= int(blocked.group(2)) <= 1500
        finally:
            log.close()
