"""Host-side handle on a running virtual rig (`python -m hil.sim`).

Starts the rig as its own process (its pacing clock then never waits on the
test's work), waits for the line that announces its ports, and stops it
leaving no interpreter or pty behind.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..procutil import die_with_parent
from .chip_time import Stretch, parse_stretches
from .model import manifest_env


class VirtualRigError(Exception):
    pass


@dataclass(frozen=True)
class LineStats:
    """The P1 line model's counters since the rig started (hil.sim.line)."""
    bytes_sent: int
    bytes_received: int
    framing_errors: int
    busy_samples: int
    bursts: list[tuple[float, float, int]]  # (first bit, last bit, bytes), host monotonic seconds, oldest first
    rx_overflow: int  # bytes the bridge's UART0 ring dropped because it was full
    # Of those, bytes the host can explain: the kernel kept the bridge waiting
    # for a CPU long enough, while its ring filled, to have read them (hil/sim/server.py).
    rx_overflow_waiting: int = 0
    rx_peak: int = 0  # the most bytes the bridge's UART0 ring has held since the rig started
    # The bridge's waits between reads while bytes waited in its ring, from
    # 45 ms up (the last 256): (host monotonic time of the read, seconds), oldest first.
    rx_unread: list[tuple[float, float]] = field(default_factory=list)

    def longest_unread(self, since: float = 0.0, n: int = 5) -> list[tuple[float, float]]:
        """The n longest of rx_unread read after `since` (host monotonic), longest first."""
        return sorted((x for x in self.rx_unread if x[0] >= since), key=lambda x: -x[1])[:n]


@dataclass(frozen=True)
class UartSetting:
    baud: int
    invert: bool


@dataclass(frozen=True)
class AdapterSetting:
    mode: str  # hil.sim.line.ADAPTER_MODES
    rise_us: float
    fall_us: float


@dataclass(frozen=True)
class BoardState:
    """One virtual board as the rig sees it."""
    reset_causes: list[int]  # machine.reset_cause() of each start, oldest first
    reset_at: list[float]  # host monotonic time of each start
    repl_attached: bool  # UART0 still belongs to the REPL (the firmware has not detached it)
    usb_port: str | None  # None while unplugged
    pid: int | None = None  # its interpreter's process on the host, while it runs


@dataclass(frozen=True)
class HostSpeedStats:
    """The host's speed against the calibration's, as the boards' clocks followed it (hil.sim.host_speed)."""
    now: float
    low: float | None  # the slowest since the rig started (below 1: slower than at the calibration); None before a probe
    high: float | None
    probes: int
    calibration_cpu_ms: float

    def describe(self) -> str:
        """The words the failure texts and the benchmarks print."""
        head = "the host's speed, which the boards' clocks follow (hil/sim/host_speed.py): "
        if self.low is None or self.high is None:
            return head + "not probed yet (the boards run at the calibration's)"
        return (head + f"{self.now:.2f} of the calibration's now, {self.low:.2f}-{self.high:.2f} since the rig "
                f"started ({self.probes} probes)")


@dataclass(frozen=True)
class RigStats:
    line: LineStats
    tx: UartSetting  # the emulator's UART1, as its firmware set it
    rx: UartSetting  # the bridge's UART0
    adapter: AdapterSetting
    boards: dict[str, BoardState]  # by role
    host_speed: HostSpeedStats | None = None  # None at the host's speed


class VirtualRig:
    """The host's handle on the virtual rig: starts `python -m hil.sim` (the
    rig's own process, hil.sim.server.VirtualRigServer), gives its two boards'
    ports and asks it, through its control socket, what tests and commands need."""

    def __init__(self, workdir: Path | None = None, bridge_free_at_main: int | None = None,
                 bridge_image: Path | None = None, bridge_path_vars: dict[str, Path] | None = None,
                 board_speed: str | None = None):
        """bridge_image: the manifest frozen into the bridge board's image;
        bridge_path_vars: that manifest's $(NAME)s (hil.sim.model.frozen_image);
        board_speed: chip or host (hil.sim.clock; None: its default)."""
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hil-sim-")
        self.workdir = Path(workdir or self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bridge_free_at_main = bridge_free_at_main
        self.bridge_image = bridge_image
        self.bridge_path_vars = bridge_path_vars
        self.board_speed = board_speed
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}
        self.flash: dict[str, Path] = {}
        self.control_path = ""

    def __enter__(self) -> "VirtualRig":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> "VirtualRig":
        cmd = [sys.executable, "-m", "hil.sim", str(self.workdir)]
        if self.bridge_free_at_main is not None:
            cmd += ["--bridge-free-at-main", str(self.bridge_free_at_main)]
        if self.bridge_image is not None:
            cmd += ["--bridge-image", str(self.bridge_image)]
        if self.board_speed is not None:
            cmd += ["--board-speed", self.board_speed]
        self._log = open(self.workdir / "sim.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     env=dict(os.environ, **manifest_env(self.bridge_path_vars)),
                                     cwd=Path(__file__).resolve().parents[2], start_new_session=True,
                                     preexec_fn=die_with_parent)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.stop()
            raise VirtualRigError(f"virtual rig did not come up within {timeout} s; see {self.workdir / 'sim.log'}")
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise VirtualRigError(f"virtual rig exited at start:\n{(self.workdir / 'sim.log').read_text()[-2000:]}")
        info = json.loads(line)
        self.ports = info["ports"]
        self.flash = {k: Path(v) for k, v in info["flash"].items()}
        self.control_path = info["control"]
        return self

    # --- what the tests and commands ask of the virtual rig ---
    def stats(self) -> RigStats:
        got = self._control(cmd="stats")
        line = got["line"]
        return RigStats(
            LineStats(line["bytes_sent"], line["bytes_received"], line["framing_errors"], line["busy_samples"],
                      [tuple(b) for b in line["bursts"]], got["rx_overflow"], got["rx_overflow_waiting"],
                      got["rx_peak"], [tuple(x) for x in got["rx_unread"]]),
            UartSetting(**got["tx"]), UartSetting(**got["rx"]), AdapterSetting(**got["adapter"]),
            {role: BoardState(got["resets"][role], got["reset_at"][role], got["repl_attached"][role], got["usb"][role],
                              got["pid"][role])
             for role in got["resets"]},
            HostSpeedStats(**got["host_speed"]) if got.get("host_speed") else None)

    def line(self) -> LineStats:
        return self.stats().line

    def board(self, role: str) -> BoardState:
        return self.stats().boards[role]

    def reset(self, role: str) -> None:
        """Hard-reset a board (EN low, as a reset button or esptool's DTR/RTS do)."""
        self._control(cmd="reset", board=role)

    def plug(self, role: str, plugged: bool) -> str | None:
        """Plug a board's USB cable in or out; returns its port (None: unplugged)."""
        return self._control(cmd="usb", board=role, plugged=plugged)["port"]

    def set_wifi(self, role: str, up: bool) -> None:
        self._control(cmd="wifi", board=role, up=up)

    def set_dns(self, name: str, mode: str, address: str | None = None) -> None:
        """How the LAN's DNS server (hil.sim.dns) treats `name` from now on:
        "answer" with `address`, "drop" its queries (a server that does not
        answer), or "nxdomain"."""
        self._control(cmd="dns", name=name, mode=mode, address=address)

    def dns_queries(self, name: str) -> list[float]:
        """When (host monotonic time) each query for `name` reached the DNS server."""
        return self._control(cmd="dns", name=name)["queries"]

    def move_broker(self, address: str) -> int:
        """The broker's relay moves to another loopback address (127.x.y.z),
        keeping its port, which it returns; the old address refuses connections."""
        return self._control(cmd="broker_at", address=address)["port"]

    def set_adapter(self, mode: str = "ok", rise_us: float = 0.0, fall_us: float = 0.0) -> AdapterSetting:
        """The adapter's state (hil.sim.line.ADAPTER_MODES) and its edge delays."""
        got = self._control(cmd="adapter", mode=mode, rise_us=rise_us, fall_us=fall_us)
        return AdapterSetting(got["adapter"], got["rise_us"], got["fall_us"])

    def forward_broker(self, host: str, port: int) -> int:
        """The port on which the virtual bridge reaches host:port through its WiFi (hil.sim.lan)."""
        return self._control(cmd="lan", broker=f"{host}:{port}")["port"]

    def clock_profile(self, role: str, fresh_within: float = 0.0) -> dict[tuple[str, str], tuple[int, int]]:
        """Where board `role` spent its computing at chip speed, as it last wrote it
        (about once a second, while it computes): (source file, function) -> (chip us,
        host CPU us); empty at host speed. With `fresh_within`, first waits up to that
        many seconds for the board to write it anew. See cmod/vboard/vboard_clock.c."""
        path = self.workdir / f"{role}.clock-profile"
        if fresh_within:
            asked = time.time()
            deadline = time.monotonic() + fresh_within
            while time.monotonic() < deadline and (not path.exists() or path.stat().st_mtime < asked):
                time.sleep(0.05)  # a file the board rewrites: nothing to wait on but its mtime
        rows: dict[tuple[str, str], tuple[int, int]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                chip, host, file, function = line.split(" ", 3)
                rows[(file, function)] = (int(chip), int(host))
        return rows

    def clock_stretches(self, role: str, since: float = 0.0) -> list[Stretch]:
        """Board `role`'s stretches of computing of 40 ms of chip time or more
        without a call to the outside world (time it read no UART), ended after
        `since` (Unix time), oldest first; empty at host speed. See
        cmod/vboard/vboard_clock.c."""
        path = self.workdir / f"{role}.clock-stretches"
        return parse_stretches(path.read_text(), since) if path.exists() else []

    def heap_samples(self, role: str, since: float = 0.0) -> list[tuple]:
        """(host time, free heap, lowest free after a collection since the sample before or -1,
        collections) as the board's HAL reported them (hil.oracle.outside.HeapTrace reads them)."""
        return [tuple(x) for x in self._control(cmd="heap", board=role, since=since)["samples"]]

    def _control(self, **msg) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.control_path)
            s.sendall(json.dumps(msg).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        if not reply:
            log = (self.workdir / "sim.log").read_text(errors="replace")[-1500:]
            raise VirtualRigError(f"virtual rig closed its control connection without answering {msg}; "
                                  f"the end of its log ({self.workdir / 'sim.log'}):\n{log}")
        answer = json.loads(reply)
        if not answer.get("ok"):
            raise VirtualRigError(f"virtual rig refused {msg}: {answer.get('error')}")
        return answer

    def stop(self, timeout: float = 10) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "_log", None):
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
