"""Stray P1 bytes in the bridge's boot window. The bridge's RX pin carries the
meter's data and the REPL alike. A 0x03 in the meter's data (noise) is a Ctrl-C
to the REPL, and a bridge that stopped at it would stay at the REPL, dead,
until someone opens the meter cupboard. It takes two within a second to stop."""
from __future__ import annotations

import threading

import pytest

from hil.rig.rig import RigError

NOISE_WITH_CTRL_C = b"\x00\xff\x03garbage\r\n"  # one 0x03, as a bit error makes it


def test_a_ctrl_c_in_p1_noise_during_the_boot_window_does_not_stop_the_bridge(rig, why):
    remote = rig.upload_capture("noise_ctrl_c.bin", NOISE_WITH_CTRL_C)
    since = rig.bridge.mark()
    try:
        rig.reset_bridge()
    except RigError as e:
        pytest.skip(str(e))
    rig.bridge.expect_line(r"^bridge: boot window", timeout=20, since=since)
    player = threading.Thread(target=rig.play, args=([remote],), kwargs={"interval_ms": 0, "count": 1})
    player.start()
    try:
        rig.bridge.expect_line(r"^bridge: Ctrl-C in the boot window: again within", timeout=5, since=since)
        rig.bridge.expect_line(r"^bridge: a single Ctrl-C in the boot window .*; starting", timeout=5, since=since)
        rig.bridge.expect_line(r"^bridge: .*mqtt.*connected", timeout=30, since=since)
    finally:
        player.join(30)
    assert not any("start-up stopped" in line for line in rig.bridge.log.lines[since:]), \
        why(["the bridge stopped at the REPL on a 0x03 in the P1 data"])
