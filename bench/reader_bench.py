"""Print CPU, allocation and heap figures of the bridge's P1 reader vs a seed-style one.

Run from the repository root:  .venv/bin/python bench/reader_bench.py
Everything is measured on the virtual ESP8266's interpreter (MicroPython built
32-bit with the chip's settings, hil/sim/model.py), or on the approximate 64-bit
board where that build is missing, and the first line says which (see
bench/README.md for what each figure means). Not a test: it prints, it never
fails on a figure.
"""

import argparse
import ast
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
FIRMWARE = ROOT / "bridge_firmware"
CAPTURE = ROOT / "captures" / "sx631_aux_3ph.p1"
READER_ENTRIES = ["p1reader.py", "snapshot.py"]  # with every firmware module they import (firmware_set)
BENCH_MODULES = [BENCH / "seed_style_reader.py", BENCH / "bench_child.py"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
from firmware_set import precompile, seed_topics_source, smallest_kb  # noqa: E402
from hil.rig.firmware import FirmwareError  # noqa: E402
from hil.sim.model import board_model  # noqa: E402

BOARD = board_model()
ARCH = BOARD.arch  # mpy-cross -march for the native (viper) code of that interpreter
CPU_HEAP = "256k"
TARGET_CPU = 5.0
TARGET_ALLOC = 10.0


class BenchError(RuntimeError):
    """A MicroPython child failed where it must not (carries its output)."""


def tool(name):
    if name == "micropython":
        return BOARD.interpreter
    exe = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if exe is None:
        raise BenchError("%s not found next to %s; run scripts/bootstrap" % (name, sys.executable))
    return exe


def write_topics(out):
    """seed_topics.py (the seed-style reader's topic map) into out; returns its path."""
    path = Path(out) / "seed_topics.py"
    path.write_text(seed_topics_source())
    return path


def compile_modules(out):
    """mpy-cross the modules into out (as deployed to the board, native code for
    the unix port's arch). Raises BenchError if mpy-cross fails or the unix port
    cannot import the result: figures from sources would be mislabelled."""
    gen = Path(out) / "gen"
    gen.mkdir()
    try:
        precompile(out, READER_ENTRIES, extra=BENCH_MODULES + [write_topics(gen)], arch=ARCH)
    except FirmwareError as e:  # mpy-cross said no
        raise BenchError(str(e)) from None
    probe = subprocess.run([tool("micropython"), "-c", "import p1reader, snapshot, seed_style_reader, seed_topics"],
                           env=env_for(out), capture_output=True, text=True)
    if probe.returncode != 0:
        raise BenchError("the unix port cannot import the .mpy modules (use --source to bench the "
                         "sources):\n%s" % (probe.stderr or probe.stdout))


_SOURCE_GEN = []  # with --source: the directory holding the generated seed_topics.py


def env_for(moddir):
    env = dict(os.environ)
    dirs = ([str(moddir)] if moddir else [str(FIRMWARE)] + _SOURCE_GEN) + [str(BENCH)]  # viper_crc.py stays source
    env["MICROPYPATH"] = os.pathsep.join([".frozen"] + dirs)  # .frozen: asyncio
    return env


def child(moddir, heap, *args, check=True):
    cmd = [tool("micropython"), "-X", "heapsize=%s" % heap, "-m", "bench_child", *map(str, args)]
    r = subprocess.run(cmd, env=env_for(moddir), capture_output=True, timeout=300, cwd=str(ROOT))
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if check and r.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, out))
    return r.returncode, out


def cpu(moddir, which, telegrams, runs):
    """{us, alloc, heap, locked} per telegram (medians over the runs)."""
    _, out = child(moddir, CPU_HEAP, "cpu", which, CAPTURE, telegrams, runs)
    res = ast.literal_eval(out.strip().splitlines()[-1])
    if res["committed"] != telegrams * runs:
        raise BenchError("%s committed %d of %d telegrams" % (which, res["committed"], telegrams * runs))
    return {"us": statistics.median(res["us"]) / telegrams, "alloc": statistics.median(res["alloc"]) / telegrams,
            "heap": res["heap"], "locked": res["locked"]}


def ratio(seed, bridge):
    return seed / bridge if bridge else float("inf")


def replay_ok(moddir, which, kb, telegrams):
    rc, out = child(moddir, "%dk" % kb, "replay", which, CAPTURE, telegrams, check=False)
    return rc == 0 and out.strip().splitlines()[-1:] == ["OK %d" % telegrams]


def min_heap_kb(moddir, which, telegrams):
    """Smallest -X heapsize in KB at which the replay succeeds."""
    kb = smallest_kb(lambda kb: replay_ok(moddir, which, kb, telegrams))
    if kb is None:
        raise BenchError("%s does not replay %d telegrams even with 512 KB of heap" % (which, telegrams))
    return kb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--telegrams", type=int, default=200, help="telegrams per timed run (default 200)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported (default 5)")
    ap.add_argument("--replay", type=int, default=100, help="telegrams replayed in the heap search (default 100)")
    ap.add_argument("--source", action="store_true", help="load .py sources instead of mpy-cross output")
    a = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="reader_bench_")
    moddir = None
    if a.source:
        gen = Path(tmp.name) / "gen"
        gen.mkdir()
        write_topics(gen)
        _SOURCE_GEN.append(str(gen))
    else:
        compile_modules(Path(tmp.name))
        moddir = Path(tmp.name)
    form = "mpy-cross .mpy" if moddir else ".py sources"
    ver = subprocess.run([tool("micropython"), "-c", "import sys; print(sys.implementation.version)"],
                         capture_output=True, text=True).stdout.strip()
    print("P1 reader benchmark: %s (%d bytes), MicroPython %s on the %s, modules as %s"
          % (CAPTURE.name, CAPTURE.stat().st_size, ver, BOARD.name, form))
    print()
    print("CPU and allocation per telegram (%d telegrams per run, median of %d runs, -X heapsize=%s)"
          % (a.telegrams, a.runs, CPU_HEAP))
    print("  %-52s %9s %13s %11s %7s" % ("", "CPU/tg", "mem_total/tg", "heap/tg", "locked"))
    rows = {}
    for which, label in (("bridge", "bridge: P1Reader + Snapshot, 128-byte chunks"),
                         ("nullsink", "  reader alone (no-op sink)"),
                         ("seed", "seed style: readline + re + [topic, value, unit]"),
                         ("crc_py", "  for scale: CRC16 of the telegram, bytecode loop"),
                         ("crc_viper", "  for scale: CRC16 of the telegram, @viper")):
        r = rows[which] = cpu(moddir, which, a.telegrams, a.runs)
        print("  %-52s %6.0f us %7.0f bytes %5d bytes %7s" % (label, r["us"], r["alloc"], r["heap"],
                                                              "ok" if r["locked"] else "fails"))
    b, s = rows["bridge"], rows["seed"]
    r_us, r_al, r_heap = ratio(s["us"], b["us"]), ratio(s["alloc"], b["alloc"]), ratio(s["heap"], b["heap"])
    fmt = lambda r, w: ("%.2fx" % r if r != float("inf") else "inf").rjust(w)  # noqa: E731
    print("  %-52s %9s %13s %10s" % ("ratio seed / bridge", fmt(r_us, 9), fmt(r_al, 13),
                                     "%.1fx" % r_heap if b["heap"] else "inf"))
    print("  target: bridge >= %.0fx cheaper in CPU: %s" % (
        TARGET_CPU, "met" if r_us >= TARGET_CPU else "MISSED by a factor %.1f" % (TARGET_CPU / r_us)))
    print("  target: bridge >= %.0fx cheaper in bytes allocated: mem_total %s; heap consumed %s" % (
        TARGET_ALLOC, "met" if r_al >= TARGET_ALLOC else "MISSED by a factor %.1f" % (TARGET_ALLOC / r_al),
        "met" if r_heap >= TARGET_ALLOC else "MISSED"))
    print()
    print("Smallest -X heapsize replaying %d telegrams without MemoryError (binary search, 1 KB steps)"
          % a.replay)
    heap = {}
    for which, label in (("baseline", "baseline: capture + chunk buffers, no reader"),
                         ("bridge", "bridge: P1Reader + Snapshot"),
                         ("seed", "seed style")):
        heap[which] = min_heap_kb(moddir, which, a.replay)
        extra = "" if which == "baseline" else "  (+%d KB over baseline)" % (heap[which] - heap["baseline"])
        print("  %-56s %5d KB%s" % (label, heap[which], extra))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
