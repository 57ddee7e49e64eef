"""Bytes the bridge's UART ring drops, and whose they are.

The P1 line keeps the host's time; a virtual board keeps the chip's only while
the host gives it a CPU when it asks. The rig sets each drop against the
bridge's run delay (hil/sim/server.py): a drop the firmware caused (it computed
instead of reading) is the firmware's; one that a starved board process
explains is counted apart, so a busy host is never reported as a slow bridge.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hil.sim.handle import VirtualRig
from test_virtual_esp8266 import SerialLog, needs_virtual_esp8266

# The emulator's side: 24,000 bytes back to back, inverted for the adapter (~2.1 s of line).
SENDER = """\
import machine
uart = machine.UART(1, 115200)
machine.mem32[0x60000F20] |= 1 << 22
block = b"0123456789" * 100
for _ in range(24):
    uart.write(block)
print("SENT")
"""

# The bridge's side: reads its ring every 5 ms, as a bridge does; with BUSY,
# once 3,000 bytes are in (the 24,000 are coming), it computes for 400 ms of
# the chip's time and reads nothing meanwhile.
READER = """\
import machine
import os
import time
BUSY = {busy}
uart = machine.UART(0, 115200, rxbuf=1024)
buf = bytearray(256)
print("READING")
os.dupterm(None, 1)
got = 0
while True:
    got += uart.readinto(buf) or 0
    if BUSY and got > 3000:
        BUSY = False
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < 400:
            pass
    time.sleep_ms(5)
"""

HOG = "import time\nend = time.monotonic() + 0.5\nwhile time.monotonic() < end: pass\n"


def _real_time_on_cpu0() -> None:
    os.sched_setaffinity(0, {0})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # runs before any normal process on CPU 0


def _play(tmp_path, busy: bool, starve: bool):
    with VirtualRig(tmp_path / "sim", board_speed="chip") as sim:
        (sim.flash["emulator"] / "main.py").write_text(SENDER)
        (sim.flash["bridge"] / "main.py").write_text(READER.format(busy=busy))
        bridge = SerialLog(os.path.realpath(sim.ports["bridge"]))
        emulator = SerialLog(os.path.realpath(sim.ports["emulator"]))
        hog = None
        try:
            sim.reset("bridge")
            bridge.wait_for("READING")
            if starve:
                os.sched_setaffinity(sim.stats().boards["bridge"].pid, {0})
            before = sim.line()
            sim.reset("emulator")
            if starve:  # once the block is on the line, a real-time process takes CPU 0 for half a second
                while sim.line().bytes_sent < before.bytes_sent + 3000:
                    time.sleep(0.02)
                hog = subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=_real_time_on_cpu0)
            emulator.wait_for("SENT", timeout=30)
            after = sim.line()
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
            bridge.close()
            emulator.close()
    lost, waiting = after.rx_overflow - before.rx_overflow, after.rx_overflow_waiting - before.rx_overflow_waiting
    print(f"busy={busy} starve={starve}: the ring dropped {lost} B, {waiting} B of it counted as the host's; "
          f"the most it held: {after.rx_peak} B")
    return lost, waiting, after


@needs_virtual_esp8266
def test_a_bridge_that_computes_instead_of_reading_drops_bytes_of_its_own(tmp_path):
    lost, waiting, after = _play(tmp_path, busy=True, starve=False)
    # 400 ms without reading: ~4,600 bytes of line against a 1,024-byte ring.
    assert lost > 2000, (lost, after)
    assert waiting < lost // 10, (lost, waiting)


@needs_virtual_esp8266
@pytest.mark.skipif(os.geteuid() != 0, reason="starving a board takes a real-time process, which needs root "
                                              "(CI runs as root)")
def test_a_bridge_the_host_starves_drops_bytes_counted_as_the_rigs(tmp_path):
    lost, waiting, after = _play(tmp_path, busy=False, starve=True)
    assert lost > 0, after
    assert waiting > lost * 0.8, (lost, waiting)


@needs_virtual_esp8266
def test_a_bridge_that_keeps_reading_drops_nothing(tmp_path):
    lost, _waiting, after = _play(tmp_path, busy=False, starve=False)
    assert lost == 0 and after.rx_peak < 1024, after
