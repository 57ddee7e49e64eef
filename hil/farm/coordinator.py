"""labgrid's coordinator and exporter as child processes on this machine.

The farm tests run the whole labgrid path on loopback, and `hil sim
--labgrid-exporter` publishes the virtual rig's ports: both start the real
labgrid programs here and wait until the coordinator reports them ready.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ..procutil import die_with_parent, free_port
from .client import FarmError, LabgridClient, farm_tool

READY_TIMEOUT_S = 30
POLL_S = 0.2  # labgrid announces nothing on its own: ask the coordinator again after this long


class _Child:
    """A labgrid program with its output in a log file; stopped on exit."""
    what = ""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.what}.log"
        self.proc: subprocess.Popen | None = None

    def _start(self, cmd: list[str]) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         preexec_fn=die_with_parent)

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise FarmError(f"{self.what} exited at start ({self.proc.returncode}):\n{self.log_tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise FarmError(f"{self.what}: {what} not seen within {READY_TIMEOUT_S} s:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc) -> None:
        self.stop()


class Coordinator(_Child):
    """labgrid-coordinator on 127.0.0.1 and a free port; it keeps its
    places.yaml in `workdir`, so one put there beforehand is loaded at start."""
    what = "labgrid-coordinator"

    def __init__(self, workdir: Path, host: str = "127.0.0.1"):
        super().__init__(workdir)
        self.address = f"{host}:{free_port(host)}"

    def __enter__(self) -> "Coordinator":
        self._start([farm_tool("labgrid-coordinator"), "-l", self.address])
        client = self.client()
        self._wait(lambda: _answers(client), f"an answer on {self.address}")
        return self

    def client(self, **env) -> LabgridClient:
        """A labgrid-client for this coordinator; env: extra environment (LG_USERNAME, LG_TOKEN, ...)."""
        return LabgridClient(self.address, env=dict(os.environ, **env))


def _answers(client: LabgridClient) -> bool:
    try:
        client.run("places")
        return True
    except FarmError:
        return False


class Exporter(_Child):
    """labgrid-exporter publishing the resources of `config` as exporter `name`,
    reachable at `hostname`; ready once the coordinator lists them."""
    what = "labgrid-exporter"

    def __init__(self, workdir: Path, config: Path, coordinator: str, name: str, hostname: str = "127.0.0.1",
                 expect: int = 1):
        super().__init__(workdir)
        self.config, self.coordinator, self.name, self.hostname = Path(config), coordinator, name, hostname
        self.expect = expect  # resources the coordinator must list before the exporter counts as up

    def __enter__(self) -> "Exporter":
        self._start([farm_tool("labgrid-exporter"), "-c", self.coordinator, "-n", self.name,
                     "--hostname", self.hostname, str(self.config)])
        client = LabgridClient(self.coordinator)
        self._wait(lambda: self._listed(client) >= self.expect, f"its resources at the coordinator {self.coordinator}")
        return self

    def _listed(self, client: LabgridClient) -> int:
        try:
            return sum(1 for path in client.exported() if path.startswith(f"{self.name}/"))
        except FarmError:
            return 0
