"""Stopping the virtual rig leaves no interpreter, process or pty behind."""
from __future__ import annotations

import os
import re

from hil.sim.handle import VirtualRig


def _descendants(pid: int) -> set[int]:
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(re.sub(r"^.*\) ", "", f.read()).split()[1])
        except OSError:
            continue
        if ppid == pid:
            children.add(int(entry))
            children |= _descendants(int(entry))
    return children


def test_stop_leaves_no_process_or_pty(tmp_path, pytestconfig):
    sim = VirtualRig(tmp_path / "sim", board_speed=pytestconfig.getoption("--board-speed")).start()
    try:
        rig_pid = sim.proc.pid
        interpreters = _descendants(rig_pid)
        ports = list(sim.ports.values())
        ports += [os.path.realpath(p) for p in ports]  # the boards' stable links and their ptys
        assert len(interpreters) >= 2, f"expected two board interpreters under the rig, found {interpreters}"
        assert all(os.path.exists(p) for p in ports)
    finally:
        sim.stop()

    alive = [pid for pid in interpreters | {rig_pid} if os.path.exists(f"/proc/{pid}")]
    assert not alive, f"processes left after stop: {alive}"
    assert not any(os.path.exists(p) for p in ports), f"ptys left after stop: {ports}"
