"""The farm path, whole, on one machine: a real labgrid-coordinator, the
virtual rig exported by `hil sim --labgrid-exporter` (a real labgrid-exporter
serving its ports through a real ser2net), a place made of them, and the HIL
suite run against that place with `--rig labgrid`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.farm.client import LabgridClient
from hil.farm.coordinator import Coordinator
from hil.farm.virtual import place_commands
from hil.procutil import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
PLACE = "vrig"
EXPORTER = "hil-sim"
SUITE = [str(ROOT / "hil/tests/test_replay.py"),
         str(ROOT / "hil/tests/test_overflow.py") + "::test_200_telegrams_back_to_back_all_published"]


@dataclass
class Farm:
    coordinator: Coordinator
    client: LabgridClient
    sim_log: Path
    exporter_log: Path

    def exporter_log_lines(self) -> list[str]:
        return self.exporter_log.read_text().splitlines() if self.exporter_log.exists() else []

    def holder(self) -> str:
        """Who holds the place, as `labgrid-client show` says ("None": nobody)."""
        holder = self.client.shown(PLACE, "acquired")
        assert holder is not None, "labgrid-client show printed no 'acquired:' line"
        return holder

    def pytest(self, tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:warnings", "--rig", "labgrid",
               "--labgrid-place", PLACE, "--labgrid-coordinator", self.coordinator.address,
               f"--report-dir={tmp_path / 'report'}", *args]
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_as_from_a_terminal, **popen)


def _as_from_a_terminal() -> None:
    # An xdist worker ignores SIGINT and its children would inherit that: give the run Ctrl-C back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    work = tmp_path_factory.mktemp("farm")
    with Coordinator(work / "coordinator") as coordinator:
        sim_log = work / "hil-sim.log"
        with open(sim_log, "w") as log:
            # The host's speed: these tests are about the farm's path (coordinator, exporter, ser2net,
            # RFC 2217), not the chip's time, which the suite's own pass judges.
            sim = subprocess.Popen([sys.executable, "-m", "hil.cli", "sim", "--workdir", str(work / "sim"),
                                    "--board-speed", "host",
                                    "--labgrid-exporter", coordinator.address, "--labgrid-name", EXPORTER],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=die_with_parent)
        try:
            line = sim.stdout.readline()  # the one JSON line: the rig and its exporter are up
            assert line.startswith("{"), f"hil sim --labgrid-exporter did not come up:\n{sim_log.read_text()[-3000:]}"
            info = json.loads(line)
            assert info["labgrid"]["exporter"] == EXPORTER
            client = coordinator.client()
            for cmd in place_commands(PLACE, EXPORTER):
                client.run(*cmd)
            yield Farm(coordinator, client, sim_log, work / "sim" / "labgrid" / "labgrid-exporter.log")
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(30)
            sim.stdout.close()


def test_a_taken_place_fails_the_run_naming_its_holder_and_leaves_the_boards_alone(farm, tmp_path):
    other = farm.coordinator.client(LG_USERNAME="alice", LG_HOSTNAME="bench7")
    other.acquire(PLACE)
    try:
        run = farm.pytest(tmp_path, *SUITE)
        out, _ = run.communicate(timeout=120)
        assert run.returncode == pytest.ExitCode.USAGE_ERROR, out[-3000:]
        assert f"labgrid place {PLACE} is taken: bench7/alice holds it" in out, out[-3000:]
        assert "rfc2217://" not in out and " passed" not in out, "the run got at the boards:\n" + out[-3000:]
        assert farm.holder() == "bench7/alice", "the place changed hands"
    finally:
        other.release(PLACE)
    assert farm.holder() == "None"


def test_the_suite_runs_on_a_labgrid_place_through_rfc2217_and_releases_it(farm, tmp_path):
    # The exporter's log is the module's: only what this run made it write counts.
    mark = farm.exporter_log_lines()
    run = farm.pytest(tmp_path, "-v", *SUITE)
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out[-6000:]
    passed = [line for line in out.splitlines() if " PASSED" in line]
    assert len(passed) == 4, out[-4000:]  # 3 captures replayed, 200 telegrams back to back
    assert any("test_overflow.py::test_200_telegrams_back_to_back_all_published PASSED" in p for p in passed)
    # The run reached the boards through the place's RFC 2217 ports, and says so.
    assert "rfc2217://" in out, "the run never named an rfc2217:// port:\n" + out[:3000]
    # The exporter's ser2net served both boards' ports to this run.
    served = [line for line in farm.exporter_log_lines()[len(mark):] if "started ser2net for" in line]
    assert len(served) >= 2, "\n".join(farm.exporter_log_lines()[len(mark):])[-2000:]
    assert farm.holder() == "None", "the place was not released after the run"


def test_an_interrupted_run_releases_the_place(farm, tmp_path):
    run = farm.pytest(tmp_path, *SUITE)
    deadline = time.monotonic() + 60
    while farm.holder() == "None":  # labgrid tells nobody when a place is taken: ask again
        assert run.poll() is None and time.monotonic() < deadline, "the run never acquired the place"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)  # Ctrl-C
    out, _ = run.communicate(timeout=60)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert farm.holder() == "None", "an interrupted run kept the place:\n" + out[-3000:]



def test_the_ci_job_runs_the_suite_on_whichever_rig_is_free(farm, tmp_path):
    """docs/farm/ci-job.sh as a lab's CI runs it: one of the two rigs tagged
    hil=p1bridge is busy, so labgrid hands the job the other."""
    client = farm.client
    for cmd in (["create"], ["set-tags", "hil=p1bridge"]):
        client.run(*cmd, place="busy-rig")
    alice = farm.coordinator.client(LG_USERNAME="alice", LG_HOSTNAME="bench7")
    alice.acquire("busy-rig")
    try:
        path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(client.exe).parent), os.environ["PATH"]])
        job = subprocess.run(["sh", str(ROOT / "docs/farm/ci-job.sh"), "-p", "no:cacheprovider", "-p", "no:warnings",
                              f"--report-dir={tmp_path / 'report'}", str(ROOT / "hil/tests/test_replay.py")],
                             cwd=ROOT, env=dict(os.environ, PATH=path, LG_COORDINATOR=farm.coordinator.address),
                             capture_output=True, text=True, timeout=600)
        out = job.stdout + job.stderr
        assert job.returncode == 0, out[-4000:]
        assert out.startswith(f"Place '{PLACE}':"), out[:500]
        assert "3 passed" in out, out[-2000:]
        assert farm.holder() == "None", "the job did not release the place"
        assert client.run("reservations").strip() == "", "the job left its reservation behind"
    finally:
        alice.release("busy-rig")
