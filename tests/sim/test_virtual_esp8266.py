"""The virtual ESP8266 behaves as the chip does where a firmware can tell.

Each test puts a small firmware, written as an ESP8266 user writes it, on a
board of a fresh virtual rig, resets the board and reads its USB serial port,
as a user would on a real board.
"""
from __future__ import annotations

import ast
import os
import re
import time

import pytest
import serial

from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from hil.sim.handle import VirtualRig

MODEL = board_model()
needs_virtual_esp8266 = pytest.mark.skipif(
    not MODEL.faithful, reason=f"{MODEL.name}: run scripts/bootstrap with MICROPYTHON_SRC set to build the "
                               "virtual ESP8266")


class SerialLog:
    """Everything a board prints on its USB port, waited on by pattern."""

    def __init__(self, port: str):
        self.port = serial.Serial(port, 115200, timeout=0.1)
        self.text = ""

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the board's serial within {timeout} s; it printed:\n"
                                     f"{self.text[-3000:]}")
            self.text += self.port.read(4096).decode(errors="replace")

    def close(self):
        self.port.close()


@pytest.fixture
def board_speed():
    """The rig's default speed; a test parametrizes it where its verdict needs one."""
    return None


@pytest.fixture
def board(tmp_path, board_speed):
    """run(files) flashes files onto a fresh virtual board, hard-resets it and
    returns its serial log."""
    with VirtualRig(tmp_path / "sim", board_speed=board_speed) as sim:
        logs = []

        def run(files: dict[str, str | bytes]) -> SerialLog:
            for name, content in files.items():
                path = sim.flash["emulator"] / name
                path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
            log = SerialLog(os.path.realpath(sim.ports["emulator"]))
            logs.append(log)
            sim.reset("emulator")
            return log

        yield run
        for log in logs:
            log.close()


def test_ci_never_runs_the_approximate_board():
    # With a MicroPython source given (CI gives one), bootstrap must have built
    # the virtual ESP8266: the fallback would make every heap figure meaningless.
    if os.environ.get("MICROPYTHON_SRC"):
        assert MODEL.faithful, f"MICROPYTHON_SRC is set but the rig runs the {MODEL.name}"
    else:
        pytest.skip("MICROPYTHON_SRC not set: either board is allowed")


@needs_virtual_esp8266
def test_free_heap_at_main_py_is_the_chips(board):
    log = board({"main.py": "import gc\ngc.collect()\nprint('FREE AT MAIN', gc.mem_free(), gc.mem_alloc())\n"})
    free = int(log.wait_for(r"FREE AT MAIN (\d+)").group(1))
    assert abs(free - CHIP_FREE_AT_MAIN) <= 1024, (
        f"gc.mem_free() at main.py is {free} B; the chip has {CHIP_FREE_AT_MAIN} B")


@needs_virtual_esp8266
def test_hal_modules_are_rom_importing_them_costs_no_heap(board):
    log = board({"main.py": (
        "import gc\ngc.collect()\nbefore = gc.mem_free()\n"
        "import machine, network, esp, os, uos, umachine\n"
        "gc.collect()\nprint('IMPORT COST', before - gc.mem_free())\n")})
    cost = int(log.wait_for(r"IMPORT COST (-?\d+)").group(1))
    assert cost <= 96, f"importing the HAL took {cost} B of heap; on the chip these modules are ROM"


@needs_virtual_esp8266
@pytest.mark.parametrize("kbytes, fits", [(30, True), (40, False)])
def test_a_firmware_needing_more_heap_than_the_chip_has_fails(board, kbytes, fits):
    # Held in 1 KB pieces, as a firmware's buffers and objects are.
    log = board({"main.py": (
        "held = []\n"
        "try:\n"
        "    for i in range(%d):\n"
        "        held.append(bytearray(1024))\n"
        "    print('HELD', len(held), 'KB')\n"
        "except MemoryError as e:\n"
        "    print('MEMORYERROR after', len(held), 'KB:', e)\n") % kbytes})
    outcome = log.wait_for(r"(HELD \d+ KB|MEMORYERROR after \d+ KB)").group(1)
    if fits:
        assert outcome == f"HELD {kbytes} KB"
    else:
        assert outcome.startswith("MEMORYERROR"), outcome


ROMFS_MAIN = """\
import gc, sys, vfs
if "/rom" not in sys.path:
    # First boot: write the image into the partition, as mpremote romfs deploy does.
    img = open("romfs.img", "rb").read()
    print("PARTITION", len(vfs.rom_ioctl(2, 0)), "PREPARE", vfs.rom_ioctl(3, 0, len(img)))
    for o in range(0, len(img), 256):
        vfs.rom_ioctl(4, 0, o, img[o:o + 256])
    import machine
    machine.reset()
print("PATH", sys.path)
gc.collect(); f = gc.mem_free()
import on_fs
gc.collect(); g = gc.mem_free()
import in_rom
gc.collect()
print("COST FS", f - g, "ROM", g - gc.mem_free())
"""


def _module_source(n: int) -> str:
    # Enough bytecode, names and strings to weigh: a firmware module's kind of code.
    return "".join(f"def handler_{i}(event):\n    return 'event {i} of the bridge: %s' % (event,)\n\n"
                   for i in range(n))


@needs_virtual_esp8266
def test_mpy_files_in_romfs_run_in_place_as_on_a_romfs_chip(board, tmp_path):
    # The FLASH_2M_ROMFS firmware: a 320 KB partition, written with vfs.rom_ioctl,
    # mounted at /rom at boot; an .mpy file there costs the heap only its objects,
    # the same file on the filesystem its bytecode, strings and names too.
    from mpremote.romfs import VfsRomWriter

    from hil.rig.firmware import build

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mod.py").write_text(_module_source(40))
    [(_, mpy)] = build(tmp_path / "src", tmp_path / "out")
    image = VfsRomWriter()
    image.mkfile("in_rom.mpy", mpy)
    log = board({"main.py": ROMFS_MAIN, "romfs.img": image.finalise(), "on_fs.mpy": mpy})
    assert log.wait_for(r"PARTITION (\d+)").group(1) == str(320 * 1024)
    path = log.wait_for(r"PATH (\[.*\])").group(1)
    assert path.startswith("['', '.frozen', '/rom', '/rom/lib'"), f"sys.path {path}: not the ROMFS chip's"
    fs, rom = map(int, log.wait_for(r"COST FS (\d+) ROM (\d+)").groups())
    assert rom * 2 < fs, f"importing from ROMFS cost {rom} B, from the filesystem {fs} B: not run in place"


@needs_virtual_esp8266
def test_mpremote_romfs_deploy_works_as_on_a_romfs_chip(tmp_path):
    # The command a user runs against a FLASH_2M_ROMFS board, unchanged.
    import subprocess
    import sys
    from pathlib import Path

    mpremote = str(Path(sys.executable).with_name("mpremote"))
    src = tmp_path / "rom"
    src.mkdir()
    (src / "greeting.py").write_text("WORDS = 'hello from ROMFS'\n")
    with VirtualRig(tmp_path / "sim") as sim:
        port = os.path.realpath(sim.ports["emulator"])

        def mpremote_run(*args):
            r = subprocess.run([mpremote, "connect", port, *args], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            return r.stdout

        assert "partition has size 327680 bytes" in mpremote_run("romfs", "query")
        assert "ROMFS image deployed" in mpremote_run("romfs", "-m", "deploy", str(src))
        out = mpremote_run("exec", "import sys, greeting; print(sys.path[:4], greeting.WORDS)")
        assert "['', '.frozen', '/rom', '/rom/lib'] hello from ROMFS" in out, out


ESP8266_USER_MAIN = """\
import sys
import uos
import network
import machine
import umachine

import wifi

print("BEFORE DETACH visible")
wifi.up()
uos.dupterm(None, 1)  # free UART0 for the application
uart = machine.UART(0, 115200)
import status  # a library with a WLAN object of its own
uart.write(b"ON ESP8266 %s\\r\\n" % (sys.platform == "esp8266"))
uart.write(b"LIBRARY SEES WIFI %s\\r\\n" % status.connected())
uart.write(b"UMACHINE IS MACHINE %s\\r\\n" % (umachine is machine))
print("AFTER DETACH print is silent on the chip")
uart.write(b"END\\r\\n")
"""

ESP8266_USER_WIFI = """\
import network
import time

def up():
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    sta.connect("my-ap", "secret")
    while not sta.isconnected():  # as MicroPython's ESP8266 tutorial waits: association takes seconds
        time.sleep_ms(100)
"""

ESP8266_USER_STATUS = """\
import sys
import network

if sys.platform == "esp8266":
    _sta = network.WLAN(network.STA_IF)
    def connected():
        return _sta.isconnected()
else:
    def connected():
        return "not an esp8266"
"""


@needs_virtual_esp8266
def test_a_firmware_written_for_the_esp8266_runs_as_on_the_chip(board):
    log = board({"main.py": ESP8266_USER_MAIN, "wifi.py": ESP8266_USER_WIFI, "status.py": ESP8266_USER_STATUS})
    log.wait_for(r"END\r\n")
    assert "Traceback" not in log.text, log.text
    assert "BEFORE DETACH visible" in log.text
    assert "ON ESP8266 True" in log.text
    assert "LIBRARY SEES WIFI True" in log.text
    assert "UMACHINE IS MACHINE True" in log.text
    assert "AFTER DETACH" not in log.text, "print() after uos.dupterm(None, 1) reached the USB port"


@needs_virtual_esp8266
def test_the_station_config_survives_a_reset_as_the_sdk_keeps_it(board):
    log = board({"main.py": (
        "import machine, network, time\n"
        "sta = network.WLAN(network.STA_IF)\n"
        "def joined():  # association takes the chip's seconds\n"
        "    t0 = time.ticks_ms()\n"
        "    while not sta.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < 10000:\n"
        "        time.sleep_ms(100)\n"
        "    return sta.isconnected()\n"
        "if machine.reset_cause() == machine.SOFT_RESET:\n"
        "    print('AFTER RESET connected', joined(), sta.config('essid'))\n"
        "else:\n"
        "    sta.active(True)\n"
        "    sta.connect('my-ap', 'secret')\n"
        "    print('FIRST BOOT connected', joined())\n"
        "    machine.reset()\n")})
    log.wait_for(r"FIRST BOOT connected True")
    log.wait_for(r"AFTER RESET connected True my-ap")


WDT_MAIN = """\
import machine
import time

cause = machine.reset_cause()
print("RESET CAUSE", cause)
if cause != 3:
    try:
        machine.WDT(timeout=2000)
    except ValueError:
        print("TIMEOUT FIXED AT 5000")
    wdt = machine.WDT()
    t0 = time.ticks_ms()
    for i in range(10):  # fed for 5 s, longer than the watchdog's 3.2 s
        wdt.feed()
        time.sleep_ms(500)
    print("FED FOR", time.ticks_diff(time.ticks_ms(), t0), "MS; STOPPING")
    while True:
        pass
"""


@needs_virtual_esp8266
def test_an_unfed_watchdog_resets_the_board(board):
    log = board({"main.py": WDT_MAIN})
    log.wait_for(r"RESET CAUSE 6")
    assert "TIMEOUT FIXED AT 5000" in log.wait_for(r"TIMEOUT FIXED AT 5000").group(0)
    log.wait_for(r"FED FOR \d+ MS; STOPPING", timeout=15)
    stopped = time.monotonic()
    # REASON_SOFT_WDT_RST: the SDK's soft watchdog, about 3.2 s after the last feed.
    log.wait_for(r"RESET CAUSE 3", timeout=15)
    assert 2.0 < time.monotonic() - stopped < 6.0


HEAP_MAIN = """\
import gc
import machine
import time

uart = machine.UART(0, 115200)


def read_for(ms):  # a firmware reading its UART, as a bridge does all the time
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < ms:
        uart.read()
        time.sleep_ms(10)


gc.collect()
print("AT REST", gc.mem_free())
read_for(1000)
held = [bytearray(1000) for _ in range(12)]
gc.collect()
print("AT PEAK", gc.mem_free())
read_for(1000)
held = None
gc.collect()
read_for(500)
print("DONE")
"""


@needs_virtual_esp8266
def test_the_board_reports_its_heap_without_the_firmwares_help(tmp_path):
    """The HAL reports the heap after each collection to the rig while the
    firmware reads UART0: the rig sees what the firmware itself measures."""
    with VirtualRig(tmp_path / "sim") as sim:
        (sim.flash["emulator"] / "main.py").write_text(HEAP_MAIN)
        log = SerialLog(os.path.realpath(sim.ports["emulator"]))
        try:
            since = time.monotonic()
            sim.reset("emulator")
            rest = int(log.wait_for(r"AT REST (\d+)").group(1))
            peak = int(log.wait_for(r"AT PEAK (\d+)").group(1))
            log.wait_for(r"DONE")
        finally:
            log.close()
        samples = sim.heap_samples("emulator", since=since)
    lows = [low for _t, _free, low, _n in samples if low >= 0]
    assert len(samples) >= 15, f"expected a sample every 100 ms for 2.5 s, got {len(samples)}"
    assert rest - peak >= 12 * 1000, (rest, peak)
    # The lowest free heap after a collection is the firmware's own figure at its peak.
    assert abs(min(lows) - peak) <= 256, f"board reported {min(lows)} B at the lowest, the firmware measured {peak} B"
    assert max(lows) >= rest - 256, f"board reported at most {max(lows)} B after collections, the firmware {rest} B at rest"


UART_ALLOC_MAIN = """\
import gc
import machine

uart = machine.UART(0, 115200, rxbuf=1024)
buf = bytearray(64)
gc.collect()
gc.disable()
before = gc.mem_alloc()
for _ in range(200):
    uart.any()
    uart.readinto(buf)
print("ALLOCATED", gc.mem_alloc() - before)
"""


@needs_virtual_esp8266
def test_polling_uart0_allocates_nothing_as_on_the_chip(board):
    # The chip's any() and readinto() are C: they allocate nothing. The HAL's
    # once peeked at its link with a 1 KB recv() per call.
    log = board({"main.py": UART_ALLOC_MAIN})
    allocated = int(log.wait_for(r"ALLOCATED (\d+)").group(1))
    assert allocated <= 32, f"200 polls of UART0 allocated {allocated} B of heap"


TIMER_MAIN = """\
import machine
import time

t0 = time.ticks_ms()
fired = []


def note(name):
    def callback(timer):
        fired.append((name, time.ticks_diff(time.ticks_ms(), t0)))
    return callback


periodic = machine.Timer(-1)
periodic.init(mode=machine.Timer.PERIODIC, period=100, callback=note("periodic"))
once = machine.Timer(-1)
once.init(mode=machine.Timer.ONE_SHOT, period=250, callback=note("once"))
n = 0
while time.ticks_diff(time.ticks_ms(), t0) < 1050:  # bytecode only: no wait for a timer to cut short
    n += 1
periodic.deinit()
time.sleep_ms(300)  # a deinit timer stays quiet
print("FIRED", fired)
"""


@needs_virtual_esp8266
@pytest.mark.parametrize("speed", ["host", "chip"])
def test_timers_fire_while_bytecode_runs_by_the_firmwares_ticks(tmp_path, speed):
    """machine.Timer(-1) as on the ESP8266: callbacks scheduled between bytecodes,
    no earlier than time.ticks_ms() says, at the host's speed and the chip's."""
    with VirtualRig(tmp_path / "sim", board_speed=speed) as sim:
        (sim.flash["emulator"] / "main.py").write_text(TIMER_MAIN)
        log = SerialLog(os.path.realpath(sim.ports["emulator"]))
        try:
            sim.reset("emulator")
            fired = ast.literal_eval(log.wait_for(r"FIRED (\[.*\])", timeout=30).group(1))
        finally:
            log.close()
    periodic = [ms for name, ms in fired if name == "periodic"]
    once = [ms for name, ms in fired if name == "once"]
    assert len(once) == 1 and 250 <= once[0] < 400, fired
    assert len(periodic) == 10, fired
    assert all(ms >= 100 * k for k, ms in enumerate(periodic, 1)), fired
    assert all(ms < 100 * k + 150 for k, ms in enumerate(periodic, 1)), fired


TIMER_AT_REPL_MAIN = """\
import machine
import time

t0 = time.ticks_ms()
count = 0


def tick(timer):
    global count
    count += 1
    print("TICK %d AT %d MS" % (count, time.ticks_diff(time.ticks_ms(), t0)))
    if count == 3:
        timer.deinit()


def once(timer):
    print("ONCE AT %d MS" % time.ticks_diff(time.ticks_ms(), t0))


once_timer = machine.Timer(-1)  # kept: the chip's SDK timer lives in this object
once_timer.init(mode=machine.Timer.ONE_SHOT, period=1000, callback=once)
ticker = machine.Timer(-1)
ticker.init(mode=machine.Timer.PERIODIC, period=400, callback=tick)
print("TO THE REPL")
"""


@needs_virtual_esp8266
def test_timers_fire_while_the_board_waits_at_the_repl(board):
    """On the chip the REPL's wait for a key runs the event poll hook, and
    with it the scheduled callbacks (esp_mphal.c mp_hal_stdin_rx_chr ->
    mp_hal_delay_us -> mp_event_handle_nowait): a timer fires at an idle prompt."""
    log = board({"main.py": TIMER_AT_REPL_MAIN})
    log.wait_for(r"(?s)TO THE REPL\r\n.*>>> ", timeout=20)
    at_prompt = len(log.text)
    log.wait_for(r"TICK 3 AT \d+ MS", timeout=10)
    log.wait_for(r"ONCE AT \d+ MS", timeout=10)
    after = log.text[at_prompt:]
    ticks = [int(ms) for ms in re.findall(r"TICK \d AT (\d+) MS", after)]
    once = [int(ms) for ms in re.findall(r"ONCE AT (\d+) MS", after)]
    assert len(ticks) == 3 and all(400 * k <= ms < 400 * k + 200 for k, ms in enumerate(ticks, 1)), after
    assert len(once) == 1 and 1000 <= once[0] < 1200, after
    with pytest.raises(AssertionError):  # deinit in its own callback: no fourth
        log.wait_for(r"TICK 4", timeout=1.5)


# pyexec_file() turns Ctrl-C on only once main.py is compiled; the padding
# (comments: the lexer streams them from flash, no heap) makes the compile
# take about a second at the host's ~35 MB/s.
COMPILE_PADDING = ("#" + " pad" * 24 + "\n") * 400_000


@needs_virtual_esp8266
# The window needs a long compile; at the chip's speed its 40 MB of source takes
# minutes (compiling is C the clock counts), and the verdict is about where
# Ctrl-C is off, not how long the compile takes.
@pytest.mark.parametrize("board_speed", ["host"])
def test_a_ctrl_c_while_the_board_compiles_main_py_is_a_plain_byte(board):
    """On the chip a 0x03 that arrives between boot.py and the first line of
    main.py (the board's own C, then the compile) finds Ctrl-C off
    (shared/runtime/pyexec.c parse_compile_execute): the byte waits in the
    UART for the REPL and main.py runs. A board that interrupted there would
    leave a bridge at the REPL on noise from the meter before its main.py
    could turn Ctrl-C off."""
    log = board({"boot.py": "print('BOOT DONE')\n",
                 "main.py": COMPILE_PADDING + "print('MAIN RAN')\n"})
    log.wait_for(r"BOOT DONE", timeout=20)
    log.port.write(b"\x03")
    log.port.flush()
    log.text += log.port.read(log.port.in_waiting).decode(errors="replace")
    assert "MAIN RAN" not in log.text, "main.py ran before the 0x03 was sent: the test proves nothing"
    log.wait_for(r"MAIN RAN", timeout=20)
    assert "KeyboardInterrupt" not in log.text, log.text[-2000:]
