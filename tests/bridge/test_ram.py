"""RAM: with every module precompiled by mpy-cross (as uploaded to a board), the
bridge starts and runs a 100-telegram replay, and its free heap stays bounded.

On the virtual ESP8266's interpreter (32-bit objects, the chip's) the heap is
MPY_HARNESS_FREE, more than the chip's 35 KB: loaded from the filesystem the
bridge does not fit the chip (tests/sim/test_bridge_mpy_on_chip_heap.py). On the
approximate 64-bit board it is 96k, which says nothing about the chip."""

import json
import os
import shutil
import subprocess
import sys
import time

from conftest import FIRMWARE, MPY_HARNESS_FREE, MPY_SCRIPTS, native_arch
from hil.sim.model import board_model
from test_mqtt import Bridge, Subscriber, collect_latest
from test_mqtt_qos import marked, wait_status
from test_reader import expected


def compile_all(out):
    exe = shutil.which("mpy-cross", path=os.path.dirname(sys.executable)) or shutil.which("mpy-cross")
    for src in FIRMWARE.glob("*.py"):
        if src.name == "main.py":
            continue
        # p1reader/snapshot hold viper code for the interpreter running here.
        subprocess.run([exe, f"-march={native_arch()}", "-o", str(out / (src.stem + ".mpy")), "-s", src.name, str(src)],
                       check=True)
    assert not list(out.glob("*.py"))


# This harness starts with about 850 B of the heap in use (32-bit), where the
# virtual board's boot leaves exactly MPY_HARNESS_FREE free.
HEAPSIZE, MIN_FREE = (str(MPY_HARNESS_FREE + 850), 4 * 1024) if board_model().faithful else ("96k", 24 * 1024)


def test_precompiled_bridge_runs_100_telegrams_in_its_boards_heap(tmp_path, broker, record_property):
    compile_all(tmp_path)
    sub = Subscriber(broker)
    bridge = Bridge(broker, heapsize=HEAPSIZE, path=os.pathsep.join([".frozen", str(tmp_path), str(MPY_SCRIPTS)]),
                    status_interval_s=1)
    try:
        bridge.wait_line("mqtt connected")
        started = next(l for l in bridge.lines if "bridge: started, free" in l)
        free_start = int(started.rsplit(" ", 1)[1])
        early = None
        for i in range(1, 101):
            bridge.uart.sendall(marked(i))
            bridge.wait_line("telegram ok", count=i, timeout=10)
            if i == 10:
                early = wait_status(sub, lambda s: s["telegrams_ok"] == 10, timeout=15)
        last = expected(marked(100))
        assert collect_latest(sub, bridge, last) == last
        s = wait_status(sub, lambda s: s["telegrams_ok"] == 100 and s["pubacks"] == s["published"], timeout=15)
        record_property("free_after_start", free_start)
        record_property("heap_min_free", s["heap_min_free"])
        print(f"heap {HEAPSIZE} ({board_model().name}), .mpy modules: free after start-up {free_start}, heap_min_free over 100 telegrams "
              f"{s['heap_min_free']}, heap_free at the end {s['heap_free']}")
        assert s["crc_errors"] == s["truncated"] == s["overlong"] == s["bad_values"] == 0
        assert s["heap_min_free"] > MIN_FREE, s  # room left at the worst moment
        # Nothing accumulates: the steady state after 100 telegrams is where it was after 10.
        assert s["heap_free"] >= early["heap_free"] - 1024, (early, s)
        assert s["heap_min_free"] >= early["heap_min_free"] - 1024, (early, s)
        assert "MemoryError" not in bridge.output()
    finally:
        bridge.kill()
        sub.close()
