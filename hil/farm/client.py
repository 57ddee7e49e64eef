"""The rig's side of a labgrid farm: acquire a place, find its two boards' serial
ports, release it.

One place is one rig: an emulator and a bridge board, matched as the place's
resources named ``emulator`` and ``bridge`` (docs/farm.md). The rig talks to
labgrid through ``labgrid-client``, labgrid's documented command line, rather
than its Python API: labgrid installs its own pyserial fork under the same
package name as the pyserial that mpremote and esptool use, so it lives in a
virtual environment of its own (scripts/bootstrap puts it in .venv/labgrid).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml

LABGRID = "labgrid==26.0.1"  # the version the farm path is tested with
ROLES = ("emulator", "bridge")
DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's own default
VIRTUAL_TAG = "virtual"  # a place tagged virtual=1 holds a `hil sim` (hil sim --labgrid-exporter)
BRIDGE_POWER = "bridge-power"  # the place's power port that cycles the bridge, where it has no DTR/RTS reset
POWER_OFF_S = 0.2  # how long a power cycle keeps the board off
CLIENT_TIMEOUT_S = 30
RELEASE_TIMEOUT_S = 15
POLL_S = 0.1
# A pty has no modem lines to acknowledge RFC 2217's set-control requests
# (the open would time out), and a real board's ser2net acknowledges them
# anyway: waiting for the acknowledgement buys nothing.
URL_OPTIONS = "?ign_set_control"


class FarmError(Exception):
    """labgrid said no, or cannot be reached; the message says what to do."""


class PlaceTaken(FarmError):
    """The place is acquired by someone else (the message names who)."""


def client_executable() -> str:
    """labgrid-client on PATH, else the one scripts/bootstrap installs beside this venv."""
    found = shutil.which("labgrid-client") or shutil.which("labgrid-client", path=str(_bootstrap_bin()))
    if not found:
        raise FarmError(f"labgrid-client not found on PATH nor in {_bootstrap_bin()}: install labgrid "
                        f"(scripts/bootstrap does, or: pipx install {LABGRID})")
    return found


def _bootstrap_bin() -> Path:
    return Path(sys.prefix) / "labgrid" / "bin"


def farm_tool(name: str) -> str:
    """labgrid-coordinator, labgrid-exporter, ...: beside labgrid-client."""
    return str(Path(client_executable()).with_name(name))


@dataclass
class Place:
    """An acquired place: its name, tags, the URL of each role's serial port
    and the names of its power ports."""
    name: str
    client: "LabgridClient"
    tags: dict[str, str] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)  # role -> rfc2217://host:port?...
    power: set[str] = field(default_factory=set)

    @property
    def virtual(self) -> bool:
        return self.tags.get(VIRTUAL_TAG) == "1"

    def power_cycle(self, name: str, off_s: float = POWER_OFF_S) -> None:
        """Switch the power port `name` off and on again (labgrid-client power cycle)."""
        self.client.run("power", "cycle", "--name", name, "--delay", str(off_s), place=self.name)


class LabgridClient:
    """labgrid-client against one coordinator (its address as labgrid takes it)."""

    def __init__(self, coordinator: str | None = None, env: dict[str, str] | None = None):
        self.coordinator = coordinator or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR
        self.env = dict(os.environ if env is None else env)
        self.exe = client_executable()

    def run(self, *args: str, place: str | None = None) -> str:
        cmd = [self.exe, "-x", self.coordinator] + (["-p", place] if place else []) + list(args)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=CLIENT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise FarmError(f"labgrid-client {' '.join(args)} got no answer within {CLIENT_TIMEOUT_S} s from the "
                            f"coordinator at {self.coordinator}: is labgrid-coordinator running there?") from e
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).removeprefix("labgrid-client: ")
            raise FarmError(f"labgrid-client {' '.join(args)} (coordinator {self.coordinator}): {said}")
        return done.stdout

    def acquire(self, place: str) -> None:
        try:
            self.run("acquire", place=place)
        except FarmError as e:
            said = str(e)
            if "already acquired by" in said:
                holder = said.split("already acquired by", 1)[1].split()[0].rstrip(".")
                raise PlaceTaken(f"labgrid place {place} is taken: {holder} holds it (labgrid names holders "
                                 "host/user). Its boards stay with their holder: wait until it is released, or let "
                                 "labgrid hand out a free place: eval $(labgrid-client reserve --wait --shell "
                                 "hil=p1bridge) and --labgrid-place + (docs/farm.md)") from e
            raise

    def release(self, place: str, timeout: float = RELEASE_TIMEOUT_S) -> None:
        """Release the place and return once its exporters have freed its
        resources (stopped their ser2net): labgrid frees them a moment after
        the release, and an acquire meanwhile fails with "Failed to acquire
        resources", so the next user can acquire at once."""
        self.run("release", place=place)
        deadline = time.monotonic() + timeout
        while f"'acquired': '{place}'" in self.run("-vv", "resources"):
            if time.monotonic() > deadline:
                raise FarmError(f"labgrid place {place} released, but its exporters still hold its resources after "
                                f"{timeout:.0f} s: see `labgrid-client -vv resources`")
            time.sleep(POLL_S)  # labgrid announces it only to `labgrid-client monitor`: ask again

    def shown(self, place: str, key: str) -> str | None:
        """One line of `labgrid-client show` ("  tags: a=b, c=d", "  acquired: host/user"), its value;
        labgrid-client has no machine-readable form of them."""
        for line in self.run("show", place=place).splitlines():
            if line.strip().startswith(f"{key}:"):
                return line.split(":", 1)[1].strip()
        return None

    def tags(self, place: str) -> dict[str, str]:
        pairs = (self.shown(place, "tags") or "").split(",")
        return dict(p.strip().split("=", 1) for p in pairs if "=" in p)

    def exported(self) -> list[str]:
        """exporter/group/class/name of every resource the exporters publish, plugged in or not."""
        # -vv lists unavailable ones too, as "Resource 'NAME' (EXPORTER/GROUP/CLASS[/NAME]):".
        found = re.findall(r"^\s*Resource '([^']+)' \(([^)\[]+)\[/", self.run("-vv", "resources"), re.M)
        return sorted(f"{path}/{name}" for name, path in found)

    def resources(self, place: str) -> tuple[str, list[tuple[str, dict]]]:
        """The acquired place's own name (`+` names the place a reservation got) and (class,
        parameters) of each resource it holds, from `labgrid-client env`."""
        env = yaml.safe_load(self.run("env", place=place)) or {}
        targets = env.get("targets") or {}
        return next(iter(targets), place), [
            (cls, params or {}) for target in targets.values()
            for res in target.get("resources") or [] if isinstance(res, dict) for cls, params in res.items()]


@contextlib.contextmanager
def acquired(place: str, coordinator: str | None = None) -> Iterator[Place]:
    """The place, acquired for the length of the block and released after it,
    also when the block fails or is interrupted. PlaceTaken when someone else
    holds it: the boards are never shared."""
    if not place:
        raise FarmError("no labgrid place given: --labgrid-place NAME (or LG_PLACE); `labgrid-client places` lists them")
    client = LabgridClient(coordinator)
    try:
        client.acquire(place)
    except (KeyboardInterrupt, SystemExit):
        # Interrupted while labgrid-client ran: the coordinator may have given us the place already.
        with contextlib.suppress(FarmError):
            client.release(place)
        raise
    try:
        # From here on the place by its own name: release() waits for the resources it names.
        place, resources = client.resources(place)
        # NetworkSerialPort: what the exporter's ser2net serves, by the name the place gave the match.
        ports = {p.get("name"): f"rfc2217://{p['host']}:{p['port']}{URL_OPTIONS}"
                 for cls, p in resources if cls == "NetworkSerialPort"}
        missing = [r for r in ROLES if r not in ports]
        if missing:
            raise FarmError(f"labgrid place {place} has no serial port named {' or '.join(missing)} (it has: "
                            f"{', '.join(sorted(n for n in ports if n)) or 'none'}): match the boards' ports with "
                            f"`labgrid-client -p {place} add-named-match EXPORTER/GROUP/NetworkSerialPort/NAME ROLE` "
                            "(docs/farm.md)")
        power = {p.get("name") for cls, p in resources if cls.endswith("PowerPort")}
        yield Place(place, client, client.tags(place), {r: ports[r] for r in ROLES}, power)
    finally:
        client.release(place)
