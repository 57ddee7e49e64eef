"""`hil doctor`: can the rig run here, and what to do where it cannot.

    hil doctor [--rig-config FILE]
    hil doctor --build-key

Checks, one line each with its fix: the Python version, the rig's Python
packages, mosquitto, the virtual ESP8266 (or why the approximate board runs,
and how to get the real one), the 32-bit toolchain that builds it,
zabbix_agent2, labgrid, the serial ports and your access to them (dialout),
and the rig config file. Each line starts with ok, note (a part not needed for
a `pytest --rig sim` run, or the approximate board) or FAIL (a `pytest --rig
sim` run cannot start). Exit codes: 0 a `pytest --rig sim` run can start, 1 it
cannot.

--build-key prints the key the virtual ESP8266's build is cached under here
(MicroPython's tag, the board variant's hash, and the source's hash when
MICROPYTHON_SRC names one): a CI cache keyed on it holds the right build
(docs/ci/).
"""
from __future__ import annotations

import argparse
import glob
import grp
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from .ui import console, run_alone

# The Pythons the suite runs on (README, "Which Python"); newer ones are not refused,
# only said to be untested.
TESTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
APT = "sudo apt-get install -y"
SERIAL_GLOBS = ("/dev/ttyUSB*", "/dev/ttyACM*")
DEFAULT_RIG_CONFIG = "rig.json"  # README, "Real boards": rig.example.json copied here
STUBS_32 = "/usr/include/x86_64-linux-gnu/gnu/stubs-32.h"  # gcc-multilib: gcc -m32 links against it


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's answer. level: ok, note (not needed for a
    `pytest --rig sim` run) or fail (such a run cannot start)."""

    level: str
    what: str
    said: str
    fix: str = ""

    def line(self) -> str:
        tag = {"ok": "[green]ok  [/]", "note": "[yellow]note[/]", "fail": "[red]FAIL[/]"}[self.level]
        return f"{tag} {escape(self.what)}: {escape(self.said)}" + (f" [bold]fix:[/] {escape(self.fix)}" if self.fix else "")


def check_python() -> Finding:
    v = sys.version_info
    here = f"{platform.python_version()} ({sys.executable})"
    tested = ", ".join(f"{a}.{b}" for a, b in TESTED_PYTHONS)
    if v[:2] in TESTED_PYTHONS:
        return Finding("ok", "python", f"{here}; tested: {tested}")
    return Finding("note", "python", f"{here} is newer than the tested {tested}",
                   f"if something fails, try a tested one: python3.13 -m venv VENV, then install the rig there")


def check_packages() -> Finding:
    """Every requirement of the installed rig met, in the ranges pyproject.toml declares."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requires = metadata.requires("p1-hil-rig") or []
    except metadata.PackageNotFoundError:
        return Finding("fail", "python packages", f"p1-hil-rig is not installed in {sys.prefix}",
                       "pip install the rig (scripts/bootstrap in a checkout)")
    wrong, needed = [], 0
    for text in requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement (test): not needed to run
        needed += 1
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{req.name} missing (needs {req.specifier})")
            continue
        if not req.specifier.contains(have, prereleases=True):
            wrong.append(f"{req.name} {have} (needs {req.specifier})")
    if wrong:
        return Finding("fail", "python packages", "; ".join(wrong),
                       f"{sys.executable} -m pip install p1-hil-rig's requirements again "
                       "(in a checkout: scripts/bootstrap)")
    return Finding("ok", "python packages", f"the {needed} requirements of p1-hil-rig are met")


def check_mosquitto() -> Finding:
    # The rig's own lookup: what the doctor finds is what a run finds.
    from ..net.broker import BrokerError, find_mosquitto

    try:
        broker, _ = find_mosquitto()
    except BrokerError as e:
        return Finding("fail", "mosquitto", str(e).split(";")[0], f"{APT} mosquitto (or run scripts/bootstrap)")
    try:  # `mosquitto -h` prints its version and exits non-zero
        head = subprocess.run([broker, "-h"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired) as e:
        return Finding("fail", "mosquitto", f"{broker} does not run: {e}", f"{APT} --reinstall mosquitto")
    return Finding("ok", "mosquitto", f"{broker}" + (f" ({head[0].strip()})" if head else ""))


def _toolchain_missing() -> list[str]:
    missing = [tool for tool in ("gcc", "make") if shutil.which(tool) is None]
    if platform.machine() == "x86_64" and not Path(STUBS_32).exists():
        missing.append("gcc-multilib")
    return missing


def check_board() -> Finding:
    from ..sim import build, model as sim_model
    from ..sim.model import board_model, build_command

    link = sim_model._bin_dir() / build.PROG  # where board_model() looks
    try:
        model = board_model()
    except FileNotFoundError as e:
        return Finding("fail", "virtual board", str(e).split(":")[0],
                       f"{sys.executable} -m pip install p1-hil-rig's requirements, then {build_command()}")
    if model.faithful:
        built = model.build.get("variant_sha256", "")
        if built and built != build.variant_hash():
            return Finding("note", "virtual board",
                           f"the virtual ESP8266 at {link} was built from another version of the rig's board "
                           "variant", f"build it again: {build_command()}")
        return Finding("ok", "virtual board", f"the virtual ESP8266 ({link} -> {link.resolve().parent})")
    why = (f"{link} points at a build that is gone (the build cache was cleared)" if link.is_symlink()
           else f"no virtual ESP8266 built for this Python ({link} missing)")
    return Finding("note", "virtual board",
                   f"{why}, so the approximate board runs (64-bit, not the chip's heap: results say so, heap "
                   "checks are skipped)", f"build the virtual ESP8266: {build_command()}")


def check_toolchain() -> Finding:
    from ..sim.model import board_model

    missing = _toolchain_missing()
    try:
        built = board_model().faithful
    except FileNotFoundError:
        built = False
    if not missing:
        return Finding("ok", "32-bit toolchain", "gcc, make" + (" and gcc-multilib" if platform.machine() == "x86_64"
                                                                 else "") + " (they build the virtual ESP8266)")
    level = "note"  # a run on the approximate board can still start without it
    said = f"missing: {', '.join(missing)}" + (": the virtual ESP8266 is built already, only a rebuild needs them"
                                               if built else ": the virtual ESP8266 cannot be built")
    return Finding(level, "32-bit toolchain", said, f"{APT} {' '.join(missing)}")


def check_zabbix() -> Finding:
    from ..zabbix.agent import AgentError, find_agent

    try:
        return Finding("ok", "zabbix_agent2", find_agent())
    except AgentError as e:
        return Finding("note", "zabbix_agent2", str(e).split(";")[0] + " (only `hil zabbix-check` and the Zabbix "
                       "tests need it)", f"{APT} zabbix-agent2")


def check_labgrid() -> Finding:
    from ..farm.client import LABGRID, FarmError, client_executable

    try:
        return Finding("ok", "labgrid", client_executable())
    except FarmError:
        return Finding("note", "labgrid", "labgrid-client not found (only --rig labgrid, the farm, needs it)",
                       f"pipx install {LABGRID} (scripts/bootstrap puts it in .venv/labgrid)")


def check_serial() -> list[Finding]:
    ports = sorted(p for pattern in SERIAL_GLOBS for p in glob.glob(pattern))
    if not ports:
        return [Finding("ok", "serial ports", "none attached (only --rig usb needs them: two boards on USB)")]
    findings = []
    for port in ports:
        if os.access(port, os.R_OK | os.W_OK):
            findings.append(Finding("ok", f"serial port {port}", "readable and writable"))
            continue
        group = grp.getgrgid(os.stat(port).st_gid).gr_name
        try:
            member = os.environ.get("USER", "") in grp.getgrnam(group).gr_mem
        except KeyError:
            member = False
        fix = ("log out and in again: you were added to it after this session started" if member
               else f"sudo usermod -aG {group} $USER, then log out and in again")
        findings.append(Finding("note", f"serial port {port}", f"no read/write access (owned by group {group})", fix))
    return findings


def check_rig_config(path: str | None) -> Finding:
    from ..rig.benchconfig import RigConfigError, load_rig_config

    given = path is not None
    path = path or DEFAULT_RIG_CONFIG
    if not Path(path).exists():
        if given:
            return Finding("fail", "rig config", f"{path} does not exist", "give the path of your rig config, "
                           "or copy rig.example.json there and fill it in")
        return Finding("ok", "rig config", f"no {path} here (--rig sim needs none; for real boards copy "
                       "rig.example.json to rig.json and give --rig-config rig.json)")
    try:
        cfg = load_rig_config(path)
    except RigConfigError as e:
        # pytest refuses a run whose --rig-config it cannot read, --rig sim too.
        return Finding("fail", "rig config", str(e), f"correct {path} (rig.example.json shows every field)")
    return Finding("ok", "rig config", f"{path}: {', '.join(sorted(cfg.keys)) or 'empty'}")


def findings(rig_config: str | None = None) -> list[Finding]:
    return [check_python(), check_packages(), check_mosquitto(), check_board(), check_toolchain(),
            check_zabbix(), check_labgrid(), *check_serial(), check_rig_config(rig_config)]


def build_key() -> str:
    """The virtual ESP8266's cache key here: what hil/sim/build.py keys its build on,
    read off before anything is built (with no MICROPYTHON_SRC the source is the
    clone of a fixed tag, named by the tag)."""
    from ..sim import build

    key = f"virtual-esp8266-{build.TAG}-{build.variant_hash()[:12]}"
    given = os.environ.get("MICROPYTHON_SRC")
    if given and Path(given).exists():
        key += f"-src{build.source_hash(Path(given).resolve())[:12]}"
    return key


def cmd_doctor(args) -> int:
    if args.build_key:
        print(build_key())
        return 0
    found = findings(args.rig_config)
    for f in found:
        console.print(f.line(), soft_wrap=True)
    failed = [f.what for f in found if f.level == "fail"]
    if failed:
        console.print(f"[red]a `pytest --rig sim` run cannot start here[/]: fix {', '.join(failed)} (above)")
        return 1
    console.print("[green]the rig can run here[/]: `pytest --rig sim` can start"
                  + ("" if not any(f.level == "note" for f in found) else " (the notes above are for other rigs "
                     "or a closer board)"))
    return 0


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check what the rig needs here, each finding with its fix",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rig-config", metavar="FILE", default=None,
                   help=f"the bench's rig config to check (default: {DEFAULT_RIG_CONFIG} here, if there is one)")
    p.add_argument("--build-key", action="store_true",
                   help="print the virtual ESP8266's build cache key and exit (for a CI cache)")
    p.set_defaults(func=cmd_doctor)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
