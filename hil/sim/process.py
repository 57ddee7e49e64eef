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
from pathlib import Path

from ..procutil import die_with_parent
from .model import manifest_env


class VirtualRigError(Exception):
    pass


class VirtualRigProcess:
    def __init__(self, workdir: Path | None = None, bridge_free_at_main: int | None = None,
                 bridge_frozen: Path | None = None, bridge_path_vars: dict[str, Path] | None = None):
        """bridge_frozen: the manifest frozen into the bridge board's image;
        bridge_path_vars: that manifest's $(NAME)s (hil.sim.model.frozen_image)."""
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hil-sim-")
        self.workdir = Path(workdir or self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bridge_free_at_main = bridge_free_at_main
        self.bridge_frozen = bridge_frozen
        self.bridge_path_vars = bridge_path_vars
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}
        self.flash: dict[str, Path] = {}
        self.control_path = ""

    def __enter__(self) -> "VirtualRigProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> "VirtualRigProcess":
        cmd = [sys.executable, "-m", "hil.sim", str(self.workdir)]
        if self.bridge_free_at_main is not None:
            cmd += ["--bridge-free-at-main", str(self.bridge_free_at_main)]
        if self.bridge_frozen is not None:
            cmd += ["--bridge-frozen", str(self.bridge_frozen)]
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

    def control(self, **msg) -> dict:
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
