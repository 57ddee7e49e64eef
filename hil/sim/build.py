"""Build the virtual ESP8266: MicroPython v1.28.0's unix port with the board
variant in hil/sim/esp8266 (32-bit, the chip's settings, HAL and asyncio frozen).

    python -m hil.sim.build [--link PATH] [--freeze MANIFEST]
    (in a checkout, before the venv exists: scripts/build-virtual-esp8266)

Where the source comes from, in this order:
  1. MICROPYTHON_SRC: a MicroPython v1.28.0 source tree or its tarball (.tar.xz/.tar.gz);
  2. the MICROPYTHON_SRC of the last build, while it exists (CACHE/source);
  3. a shallow clone of tag v1.28.0 from GitHub, when this machine is online.
With neither, it says so and exits 0: the rig then runs on the approximate
64-bit board and every result says so. With MICROPYTHON_SRC set, any failure
is an error (exit 1), so a CI that gives the source never gets the fallback.

Builds are cached in CACHE/<source hash>-<variant hash>/ (CACHE: HIL_BUILD_CACHE,
else ~/.cache/p1-hil/virtual-esp8266): an unchanged source and variant cost a
hash and nothing more. --link makes PATH
(scripts/bootstrap gives .venv/bin/micropython-esp8266) point at the result.
--freeze MANIFEST also freezes a firmware into the image, as a user does for an
ESP8266 (bridge_firmware/manifest.py): its $(BOARD_DIR) is this variant, and
the cache key covers the firmware's *.py files; the last line printed is the
interpreter's path. Other $(NAME)s the manifest uses come, as in MicroPython's
own build, from MICROPY_MANIFEST_<NAME> in the environment
(bridge_firmware/manifest_mqtt_as.py: MICROPY_MANIFEST_MQTT_AS_DIR); the cache
key covers each such directory's *.py files too.
Standard library only: it runs before the project's venv exists.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANT_DIR = HERE / "esp8266"
HAL_DIR = HERE / "hal"
# Per user, not per checkout: an installed package has no checkout to build in.
CACHE = Path(os.environ.get("HIL_BUILD_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "p1-hil" / "virtual-esp8266")
REMEMBERED = CACHE / "source"
TAG = "v1.28.0"
REPO = "https://github.com/micropython/micropython"
PROG = "micropython-esp8266"
# What the unix port needs from a MicroPython tree (the tarball holds exactly these).
NEEDED = ("py", "extmod", "shared", "mpy-cross", "tools", "lib", "ports/unix", "LICENSE")
KEEP_BUILDS = 6
# The path variables MicroPython's build defines itself for a manifest.
BUILD_VARS = ("MPY_DIR", "MPY_LIB_DIR", "PORT_DIR", "BOARD_DIR")
# Where the unix port's own code differs from the chip in a way a firmware or
# a host tool can see, the build changes it: (file, old, new, why).
PATCHES = (
    ("ports/unix/unix_mphal.c", "tcsetattr(0, TCSAFLUSH, &", "tcsetattr(0, TCSANOW, &",
     "the chip's UART keeps bytes that arrive while code runs or the REPL switches mode; "
     "the unix port threw them away at every switch (a Ctrl-A sent during boot was lost)"),
    ("ports/unix/main.c", "#if MICROPY_VFS_ROM_IOCTL\n\nstatic uint8_t romfs_buf",
     "#if MICROPY_VFS_ROM_IOCTL && !MICROPY_VBOARD_ROMFS\n\nstatic uint8_t romfs_buf",
     "the board's ROMFS partition is the virtual board's (cmod/vboard), not the unix port's empty one"),
    ("ports/unix/gccollect.c", "    gc_collect_end();\n}",
     "    gc_collect_end();\n    extern void vboard_after_gc(void);\n    vboard_after_gc();\n}",
     "the virtual board measures its free heap after each collection (cmod/vboard) for the rig"),
    ("py/mpthread.h", "#else\n#define MP_THREAD_GIL_ENTER()\n#define MP_THREAD_GIL_EXIT()\n#endif",
     "#elif MICROPY_VBOARD_CLOCK\nvoid vboard_clock_enter(void);\nvoid vboard_clock_leave(void);\n"
     "#define MP_THREAD_GIL_ENTER() vboard_clock_enter()\n#define MP_THREAD_GIL_EXIT() vboard_clock_leave()\n"
     "#else\n#define MP_THREAD_GIL_ENTER()\n#define MP_THREAD_GIL_EXIT()\n#endif",
     "the virtual board keeps the chip's time: it pays the time it owes before every blocking "
     "system call, which MicroPython brackets with these macros (cmod/vboard/vboard_clock.c)"),
    ("ports/unix/modsocket.c", "const mp_obj_type_t mp_type_socket;\n",
     "const mp_obj_type_t mp_type_socket;\n"
     "ssize_t vboard_tcp_write(int fd, const void *buf, size_t len);\n"
     "ssize_t vboard_tcp_send(int fd, const void *buf, size_t len, int flags);\n",
     "a TCP socket takes what lwIP's send buffer takes on the chip (cmod/vboard/vboard_lwip.c)"),
    ("ports/unix/modsocket.c", "write(o->fd, buf, size)", "vboard_tcp_write(o->fd, buf, size)",
     "socket write(): lwIP's send buffer (cmod/vboard/vboard_lwip.c)"),
    ("ports/unix/modsocket.c", "send(self->fd, bufinfo.buf, bufinfo.len, flags)",
     "vboard_tcp_send(self->fd, bufinfo.buf, bufinfo.len, flags)",
     "socket send(): lwIP's send buffer (cmod/vboard/vboard_lwip.c)"),
)


def say(msg: str) -> None:
    print(f"build-virtual-esp8266: {msg}", flush=True)


class BuildError(Exception):
    pass


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha256_tree(root: Path, parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        base = root / part
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in files:
            rel = p.relative_to(root).as_posix()
            if "/build" in rel or rel.startswith(".git"):
                continue
            h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def manifest_vars(frozen: Path) -> dict[str, Path]:
    """The $(NAME) path variables the manifest uses beyond the build's own
    (MPY_DIR, BOARD_DIR, ...), from MICROPY_MANIFEST_<NAME> in the environment."""
    used = {}
    for name in sorted(set(re.findall(r"\$\((\w+)\)", frozen.read_text()))):
        if name in BUILD_VARS:
            continue
        value = os.environ.get(f"MICROPY_MANIFEST_{name}")
        if not value:
            raise BuildError(f"{frozen} uses $({name}): set MICROPY_MANIFEST_{name} to that directory")
        path = Path(value).expanduser().resolve()
        if not path.is_dir():
            raise BuildError(f"MICROPY_MANIFEST_{name}={value} (used by {frozen}) is not a directory")
        used[name] = path
    return used


def variant_hash(frozen: Path | None = None) -> str:
    h = hashlib.sha256()
    files = sorted(VARIANT_DIR.rglob("*")) + sorted(HAL_DIR.glob("*.py")) + [Path(__file__)]
    if frozen is not None:
        files += [frozen] + sorted(frozen.parent.glob("*.py"))
        for name, path in manifest_vars(frozen).items():
            h.update(f"{name}={path}".encode() + b"\0")
            files += sorted(path.glob("*.py"))
    for p in files:
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def find_source() -> tuple[str, Path | None, bool]:
    """(description, path, required): the source to build from."""
    given = os.environ.get("MICROPYTHON_SRC")
    if given:
        path = Path(given).expanduser().resolve()
        if not path.exists():
            raise BuildError(f"MICROPYTHON_SRC={given} does not exist; point it at a MicroPython {TAG} "
                             f"source tree or its tarball, or unset it to clone {TAG} from GitHub")
        REMEMBERED.parent.mkdir(parents=True, exist_ok=True)
        REMEMBERED.write_text(str(path) + "\n")
        return f"MICROPYTHON_SRC={given}", path, True
    if REMEMBERED.exists():
        path = Path(REMEMBERED.read_text().strip())
        if path.exists():
            return f"{path} (MICROPYTHON_SRC of the last build)", path, False
    clone = CACHE / "micropython-git"
    if (clone / "py").is_dir():
        return f"the clone of {TAG} in {clone}", clone, False
    say(f"MICROPYTHON_SRC not set: cloning {REPO} at {TAG} (about 30 MB)")
    clone.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", TAG, REPO, str(clone)],
                       check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError) as e:
        shutil.rmtree(clone, ignore_errors=True)
        detail = getattr(e, "stderr", b"") or b""
        say(f"no MicroPython source: the clone failed ({detail.decode(errors='replace').strip() or e}).")
        return "", None, False
    return f"a fresh clone of {TAG}", clone, False


def source_hash(path: Path) -> str:
    if path.is_file():
        return _sha256_file(path)
    return _sha256_tree(path, NEEDED)


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract refusing members that would land outside dest. Python 3.11.4+
    does it with filter="data"; Debian 12's python3 (3.11.2) has no filters."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir() or member.issym()) or not target.is_relative_to(root) \
                or (member.issym() and not (target.parent / member.linkname).resolve().is_relative_to(root)):
            raise BuildError(f"{tar.name}: refusing member {member.name!r}: not a plain file inside the tree")
    tar.extractall(dest)


def unpack(path: Path, dest: Path) -> Path:
    """A writable copy of the source in dest; returns the tree's root."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if path.is_file():
        with tarfile.open(path) as tar:
            _extract(tar, dest)
        tops = [p for p in dest.iterdir() if p.is_dir()]
        root = tops[0] if len(tops) == 1 and not (dest / "py").is_dir() else dest
    else:
        root = dest / "micropython"
        for part in NEEDED:
            src = path / part
            if src.is_dir():
                shutil.copytree(src, root / part, ignore=shutil.ignore_patterns(".git", "build*"))
            elif src.is_file():
                (root / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, root / part)
    if not (root / "py" / "mpconfig.h").is_file() or not (root / "ports" / "unix").is_dir():
        raise BuildError(f"{path} is not a MicroPython source tree (no py/mpconfig.h or ports/unix)")
    version = (root / "py" / "mpconfig.h").read_text(errors="replace")
    if "#define MICROPY_VERSION_MINOR 28" not in version or "#define MICROPY_VERSION_MAJOR 1" not in version:
        raise BuildError(f"{path} is not MicroPython 1.28 (py/mpconfig.h); the boards run {TAG}")
    for name, old, new, why in PATCHES:
        path = root / name
        text = path.read_text()
        if old not in text:
            raise BuildError(f"{name} has no {old!r}: not the v1.28.0 source this build patches ({why})")
        path.write_text(text.replace(old, new))
    # The frozen-manifest step insists on this file even when no
    # micropython-lib package is frozen.
    lib = root / "lib" / "micropython-lib"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "README.md").touch()
    return root


def _make(args: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        r = subprocess.run(["make", f"-j{os.cpu_count() or 2}", *args], stdout=out, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(f"make {' '.join(args)} failed; the end of {log}:\n" + "\n".join(tail))


def build(src: Path, out: Path, frozen: Path | None = None) -> None:
    work = out / "work"
    log = out / "build.log"
    out.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    root = unpack(src, work)
    t0 = time.monotonic()
    say("building mpy-cross (for the frozen modules)")
    _make(["-C", str(root / "mpy-cross")], log)
    say("building the unix port as the virtual ESP8266" + (f" with {frozen} frozen in" if frozen else ""))
    extra = [f"FROZEN_MANIFEST={frozen}", "MPY_CROSS_FLAGS=-march=x86"] if frozen else []
    _make(["-C", str(root / "ports" / "unix"), f"VARIANT_DIR={VARIANT_DIR}", "VARIANT=ESP8266_GENERIC",
           f"BOARD_DIR={VARIANT_DIR}", f"BUILD={out / 'unix'}", *extra], log)
    shutil.copy2(out / "unix" / PROG, out / PROG)
    shutil.rmtree(work)
    shutil.rmtree(out / "unix")
    say(f"built in {time.monotonic() - t0:.0f} s")


def prune(keep: Path) -> None:
    """Drop all but the KEEP_BUILDS most recent builds of keep's kind. The two
    kinds are pruned apart: images with a firmware frozen in come and go with
    every edit of the firmware, and must never push out the plain board that
    .venv/bin/micropython-esp8266 links to."""
    frozen = keep.name.endswith("-frozen")
    builds = sorted((p for p in CACHE.iterdir() if p.is_dir() and (p / "board.json").exists() and p != keep
                     and p.name.endswith("-frozen") == frozen),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP_BUILDS - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--link", type=Path, help="make this path a link to the built interpreter")
    parser.add_argument("--freeze", type=Path, metavar="MANIFEST",
                        help="also freeze the firmware this manifest lists into the image")
    args = parser.parse_args(argv)
    frozen = args.freeze.resolve() if args.freeze else None
    if frozen is not None and not frozen.is_file():
        say(f"no manifest at {args.freeze}: a firmware to freeze needs one (see bridge_firmware/manifest.py)")
        return 1
    required = bool(os.environ.get("MICROPYTHON_SRC"))
    try:
        what, src, required = find_source()
        if src is None and frozen is not None:
            say(f"no MicroPython source: cannot build an image with {frozen} frozen in")
            return 1
        if src is None:
            say("the rig will run on the approximate board (the 64-bit unix port from PyPI, not the chip's "
                f"heap). For the virtual ESP8266, set MICROPYTHON_SRC to a MicroPython {TAG} tree or tarball, "
                "or run this again online.")
            if args.link:
                args.link.unlink(missing_ok=True)
            return 0
        src_sha, variant_sha = source_hash(src), variant_hash(frozen)
        key = f"{src_sha[:12]}-{variant_sha[:12]}" + ("-frozen" if frozen else "")
        out = CACHE / key
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / ".lock", "w") as lock:
            # One build at a time: two runs building one key (a test run and
            # its rig process, two shells) would delete each other's work.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (out / "board.json").exists() and (out / PROG).exists():
                os.utime(out)
            else:
                say(f"building from {what} (about a minute; log in {out / 'build.log'})")
                if out.exists():
                    shutil.rmtree(out)
                build(src, out, frozen)
                (out / "board.json").write_text(json.dumps({
                    "model": "virtual ESP8266", "micropython": TAG, "source": what,
                    "source_sha256": src_sha, "variant_sha256": variant_sha,
                    "frozen": str(frozen) if frozen else None}, indent=1) + "\n")
            prune(out)
        if args.link:
            args.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.link.with_name(args.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(out / PROG)
            tmp.replace(args.link)
        if frozen is not None:
            print(out / PROG)
        return 0
    except BuildError as e:
        say(str(e))
        if required or frozen is not None:  # no approximate board has a firmware frozen in
            return 1
        say("the rig will run on the approximate board (64-bit, not the chip's heap)")
        if args.link:
            args.link.unlink(missing_ok=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
