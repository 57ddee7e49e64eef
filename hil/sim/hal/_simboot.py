"""Boot ROM of a virtual board: what ports/esp8266/main.c and _boot.py do.

The virtual board imports this module (hil/sim/board.py: BOOT) in the board's
flash directory; the REPL follows. On the virtual ESP8266 build (this module
frozen, with the C glue `_vboard`):

- UART0 goes on os.dupterm slot 1 as the REPL; detaching it silences print()
  (stdout reaches the USB port only through dupterm on the chip) and tells the rig;
- the HAL modules are imported now: they are ROM on the chip, so a firmware's
  `import machine` must cost it no heap;
- sys.path is the chip's: "", ".frozen", then /rom and /rom/lib where mp_init()
  mounted a ROMFS image (the FLASH_2M_ROMFS firmware; cmod/vboard holds the
  partition), then the filesystem's lib;
- the heap the board holds back (the calibration reserve) leaves exactly
  HIL_SIM_FREE_AT_MAIN bytes free, the chip's figure at main.py (docs/FIDELITY.md);
- from boot.py on, the board computes at the chip's speed where the rig asks
  for it (HIL_SIM_CPU_FACTOR, see cmod/vboard/vboard_clock.c);
- boot.py, then main.py unless the board came up from a soft reset in the raw
  REPL, each as pyexec_file() runs it: streamed from flash into __main__.

Before any of it, a chip that (re)starts spends CHIP_BOOT_MS in its boot ROM
and the SDK (HIL_SIM_CHIP_BOOT=1; a soft reboot restarts only MicroPython).

On the fallback board (the 64-bit unix port, HAL on MICROPYPATH) there is no
_vboard: no reserve, and main.py is exec'd from a string.
"""
import gc
import sys

try:
    import _vboard

    _vboard.ctrl_c_off()  # until boot.py, as the chip runs _boot.py
except ImportError:
    _vboard = None

import time
from uos import getenv

# Reset to the first line of user code on an ESP8266: 271 ms (an SDK
# application woken from deep sleep, flogics.com 2016-09-14; docs/FIDELITY.md,
# "Boot time"). MicroPython's own start (heap, _boot.py mounting the
# filesystem) comes on top on the chip, so this errs on the short side.
CHIP_BOOT_MS = 271

if getenv("HIL_SIM_CHIP_BOOT") == "1":
    time.sleep_ms(CHIP_BOOT_MS)  # the host's clock: no chip time is counted yet

import os
import esp  # noqa: F401 - imported for the firmware, see above
import machine
import network  # noqa: F401
import socket  # noqa: F401 - lwIP's getaddrinfo (hal/socket.py)

import _simlink

# The ESP8266's GC pool: static char heap[38 * 1024] in ports/esp8266/main.c,
# as gc_init() lays it out in 16-byte blocks; _boot.py sets the collection
# threshold to a quarter of it.
CHIP_HEAP_TOTAL = 37952


def _on_dupterm(detached, attached):
    # ports/esp8266/modos.c: whatever UART object goes on or off the slot
    # attaches or detaches UART0's REPL.
    uart = (type(_repl), machine.UART)
    was, now = isinstance(detached, uart), isinstance(attached, uart)
    if was != now:
        _vboard.repl_output(now)
        _simlink.control(_simlink.DUPTERM, b"1" if now else b"0")


def _run(name):
    try:
        os.stat(name)
    except OSError:
        return
    try:
        if _vboard is not None:
            _vboard.exec_file(name)
        else:
            with open(name) as f:
                src = f.read()
            code = compile(src, name, "exec")
            del src
            import __main__  # a built-in module on the unix port, not in sys.modules

            exec(code, __main__.__dict__)
    except SystemExit:
        if _vboard is not None:
            _vboard.exit(0)  # the chip soft-resets when boot.py or main.py exits
        raise
    except BaseException as e:  # noqa: B902 - the board prints any error and goes on to the REPL
        sys.print_exception(e)


def _reserve(free_at_main):
    gc.collect()
    spare = gc.mem_free() - free_at_main
    if spare < 0:
        print("virtual board: heap too small for %d B free at main.py (%d B free)" % (free_at_main, gc.mem_free()))
        return
    _vboard.reserve(spare & ~15)  # whole 16-byte GC blocks
    gc.collect()


_repl = None
sys.path[:] = ["", ".frozen", "lib"]
if _vboard is not None:
    import vfs

    if any(m[1] == "/rom" for m in vfs.mount()):  # the unix port's main() reset sys.path after mp_init()
        sys.path[2:2] = ["/rom", "/rom/lib"]
    del vfs
# The u-names the chip answers to for its C modules: `import umachine` is the
# built-in machine there (as `uos` is os), not a module of its own.
sys.modules["umachine"] = machine
sys.modules["usocket"] = socket
if _vboard is None:
    sys.modules["uos"] = os  # the approximate board's os is the HAL's os.py
else:
    _repl = _vboard.attach_repl(_on_dupterm)
    _simlink.open_control()  # now, not at the first report: its socket is the board's, not the firmware's heap
    gc.threshold(CHIP_HEAP_TOTAL // 4)
    _free = int(os.getenv("HIL_SIM_FREE_AT_MAIN") or 0)
    _factor = float(os.getenv("HIL_SIM_CPU_FACTOR") or 0)
    if _free:
        _reserve(_free)
    # From here on the board computes at the chip's speed (hil/sim/clock.py);
    # the boot code above is C in the chip's ROM and costs no chip time here.
    _vboard.clock_factor(_factor)
    del _free, _factor
_run("boot.py")  # Ctrl-C is on while each file's code runs (_vboard.exec_file)
if os.getenv("HIL_SIM_RUN_MAIN") != "0":
    _run("main.py")
