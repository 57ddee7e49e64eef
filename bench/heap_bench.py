"""Print the resident heap of the bridge's P1 reader and of a seed-style one, side by side.

Run from the repository root:  .venv/bin/python bench/heap_bench.py [--romfs]   (~10 s)
Measured on the virtual ESP8266's interpreter (MicroPython v1.28.0 built 32-bit
with the chip's settings, hil/sim/model.py), with every module precompiled by
mpy-cross for the board's arch, as deployed. Where only the approximate 64-bit
board exists the figures are still printed, and the first line and the table say
that they are not the chip's. bench/README.md says what each figure means. Not a
test: it prints, it never fails on a figure.
"""

import argparse
import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CAPTURE = ROOT / "captures" / "sx631_aux_3ph.p1"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
from firmware_set import precompile, seed_topics_source, smallest_kb  # noqa: E402
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model  # noqa: E402

BOARD = board_model()
REST_HEAP = "64k"  # room for the calibration reserve; _hold_back leaves CHIP_FREE_AT_MAIN free
READERS = (
    ("bridge", "bridge: p1reader + snapshot + obismap", ["p1reader.py", "snapshot.py"]),
    ("seed", "seed style: seed_style_reader + topic dict", []),
)


class BenchError(RuntimeError):
    """A MicroPython child failed where it must not (carries its output)."""


def compile_all(out):
    """Precompile both readers' modules and the child into out; returns the firmware
    modules measured for the bridge."""
    src = Path(out) / "gen"
    src.mkdir()
    (src / "seed_topics.py").write_text(seed_topics_source())
    names = precompile(Path(out) / "mpy", [m for _, _, mods in READERS for m in mods],
                       extra=[BENCH / "seed_style_reader.py", BENCH / "heap_child.py", src / "seed_topics.py"],
                       arch=BOARD.arch)
    return [n[:-3] for n in names]


ROMFS_PARTITION = 320 * 1024  # the FLASH_2M_ROMFS firmware's (docs/FIDELITY.md)


def romfs_partition(moddir, out):
    """A ROMFS partition file holding every .mpy in moddir, as the virtual
    ESP8266 maps it (erased flash after the image)."""
    from hil.rig.firmware import romfs_image

    image = romfs_image([(p.name, p.read_bytes()) for p in sorted(Path(moddir).glob("*.mpy"))])
    Path(out).write_bytes(image + b"\xff" * (ROMFS_PARTITION - len(image)))
    return Path(out)


def child(moddir, heap, *args):
    env = dict(os.environ)
    if isinstance(moddir, tuple):  # ("romfs", partition file): the modules run in place from /rom
        env["HIL_SIM_ROMFS"] = str(moddir[1])
        moddir = "/rom"
    env["MICROPYPATH"] = os.pathsep.join([str(moddir), ".frozen"])  # .frozen: asyncio
    cmd = [BOARD.interpreter, "-X", "heapsize=%s" % heap, "-m", "heap_child", *map(str, args)]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=300, cwd=str(ROOT))
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"), cmd


def rest(moddir, which, telegrams):
    """heap_child rest: free0/fmod/free1/low/committed, and error if the reader raised."""
    rc, out, cmd = child(moddir, REST_HEAP, "rest", which, CAPTURE, telegrams, CHIP_FREE_AT_MAIN)
    lines = out.strip().splitlines()
    if rc != 0 or not lines:
        raise BenchError("%s exited %d:\n%s" % (" ".join(cmd), rc, out))
    return ast.literal_eval(lines[-1])


def replay_ok(moddir, which, kb, telegrams):
    rc, out, _ = child(moddir, "%dk" % kb, "replay", which, CAPTURE, telegrams)
    return rc == 0 and out.strip().splitlines()[-1:] == ["OK %d" % telegrams]


def min_heap_kb(moddir, which, telegrams):
    """Smallest -X heapsize in KB that replays the telegrams, or None."""
    return smallest_kb(lambda kb: replay_ok(moddir, which, kb, telegrams), hi=256)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--telegrams", type=int, default=100, help="telegrams replayed (default 100)")
    ap.add_argument("--romfs", action="store_true",
                    help="both readers' .mpy files in the ROMFS partition (the FLASH_2M_ROMFS firmware), where "
                         "their bytecode runs in place, instead of on the filesystem")
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="heap_bench_") as tmp:
        modules = compile_all(tmp)
        moddir = Path(tmp) / "mpy"
        where = "on the filesystem"
        if a.romfs:
            if not BOARD.faithful:
                print("--romfs needs the virtual ESP8266 (scripts/bootstrap with MICROPYTHON_SRC)", file=sys.stderr)
                return 2
            moddir = ("romfs", romfs_partition(moddir, Path(tmp) / "romfs-partition"))
            where = "in ROMFS (run in place)"
        ver = subprocess.run([BOARD.interpreter, "-c", "import sys; print(sys.implementation.version)"],
                             capture_output=True, text=True).stdout.strip()
        print("Resident heap: %s (%d bytes) x %d, MicroPython %s on the %s, modules as mpy-cross -march=%s .mpy %s"
              % (CAPTURE.name, CAPTURE.stat().st_size, a.telegrams, ver, BOARD.name, BOARD.arch, where))
        if not BOARD.faithful:
            print("NOT THE CHIP: the approximate 64-bit board; objects are bigger than on an ESP8266, "
                  "so read every figure below as relative only (build the virtual ESP8266: scripts/bootstrap)")
        print("bridge modules measured: %s; seed style: seed_style_reader, seed_topics" % ", ".join(modules))
        print()
        figures = {which: rest(moddir, which, a.telegrams) for which, _, _ in READERS}
        heap = {which: min_heap_kb(moddir, which, a.telegrams) for which in ("baseline", "bridge", "seed")}

    print("  %-42s %12s %12s %12s %12s %12s %16s" % ("", "resident", "of which", "free", "lowest free", "dip below",
                                                     "smallest"))
    print("  %-42s %12s %12s %12s %12s %12s %16s" % ("", "at rest", "modules", "at rest", "in replay", "rest",
                                                     "-X heapsize"))
    for which, label, _ in READERS:
        f = figures[which]
        kb = heap[which]
        size = ("%d KB (+%d KB)" % (kb, kb - heap["baseline"]) if kb and heap["baseline"] else
                "> 256 KB" if kb is None else "%d KB" % kb)
        if "error" in f and f.get("free1", 0) == 0:
            print("  %-42s %s" % (label, f["error"]))
            continue
        resident = f["free0"] - f["free1"]
        cells = ["%d B" % resident, "%d B" % (f["free0"] - f["fmod"]), "%d B" % f["free1"]]
        if "error" in f:
            cells += [f["error"], ""]
        else:
            cells += ["%d B" % f["low"], "%d B" % (f["free1"] - f["low"])]
            if f["committed"] != a.telegrams:
                cells[-1] += " (only %d of %d telegrams committed)" % (f["committed"], a.telegrams)
        print("  %-42s %12s %12s %12s %12s %12s %16s" % (label, *cells, size))
    free0 = {f["free0"] for f in figures.values() if "free0" in f}
    print()
    print("  free before importing the reader: %s B (calibrated to the chip's %d B at main.py); "
          "GC threshold %d B (the chip's)" % ("/".join(map(str, sorted(free0))), CHIP_FREE_AT_MAIN, 37952 // 4))
    print("  smallest -X heapsize: 1 KB steps; baseline (harness, capture, chunks, no reader) %s KB"
          % heap["baseline"])
    b, s = figures["bridge"], figures["seed"]
    if all("low" in f for f in (b, s)):
        print("  bridge - seed style: resident at rest %+d B, lowest free in replay %+d B"
              % ((b["free0"] - b["free1"]) - (s["free0"] - s["free1"]), b["low"] - s["low"]))
    if not BOARD.faithful:
        print("  (approximate 64-bit board: not the chip's figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
