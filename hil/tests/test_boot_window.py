"""Stray P1 bytes in the bridge's boot window. The bridge's RX pin carries the
meter's data and the REPL alike. A 0x03 in the meter's data (noise) is a Ctrl-C
to the REPL, and a bridge that stopped at it would stay at the REPL, dead,
until someone opens the meter cupboard. It takes two within a second to stop."""
from __future__ import annotations

import json
import threading

import pytest

from ..oracle.expected import expected_payloads
from ..oracle.verdict import compare
from ..p1.captures import load_index

NOISE_WITH_CTRL_C = b"\x00\xff\x03garbage\r\n"  # one 0x03, as a bit error makes it


def test_a_ctrl_c_in_p1_noise_during_the_boot_window_does_not_stop_the_bridge(rig, why):
    if not rig.can_reset_bridge:
        pytest.skip("this rig has no way to reset the bridge (no DTR/RTS on its port, no power switch)")
    remote = rig.upload_capture("noise_ctrl_c.bin", NOISE_WITH_CTRL_C)
    since = rig.bridge.mark()
    rig.reset_bridge()  # a reset that fails on a rig that can reset is a failure, not a skip
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


# Nothing but 0x03 (one every 87 us at 115200 baud): every slice of line time
# the virtual line delivers (4 ms) holds dozens, so whatever the bridge runs
# before it detaches the REPL gets some.
CTRL_C_STREAM = b"\x03" * 4400  # 0.38 s on the line
CTRL_C_ROUNDS = 16  # 6 s of it: the boot from reset to the detach is well inside


@pytest.fixture
def bridge_config_file(request, rig_kind, rig):
    """(overrides) -> the bridge's config.json rewritten on its flash; the rig's
    own is put back, and the bridge reset onto it, afterwards."""
    if rig_kind != "sim":
        pytest.skip("rewrites config.json on the virtual board's flash")
    path = request.getfixturevalue("virtual_rig").flash["bridge"] / "config.json"
    original = path.read_bytes()

    def rewrite(**overrides):
        path.write_text(json.dumps({**json.loads(original), **overrides}))
    yield rewrite
    path.write_bytes(original)
    since = rig.bridge.mark()
    rig.reset_bridge()
    rig.bridge.expect_line(r"^bridge: .*mqtt.*connected", timeout=30, since=since)


def test_ctrl_c_from_p1_before_and_after_the_boot_window_never_stops_the_bridge(
        rig, subscriber, why, bridge_config_file, expect):
    """A stream of 0x03 on the P1 line from before the reset until after the
    REPL is detached: imports, banner, config parse, the (empty) window and the
    step to os.dupterm(None, 1) all get 0x03 bytes. With no window there is no
    user's Ctrl-C to honour, so the bridge must come up and publish."""
    bridge_config_file(boot_window_ms=0)
    noise = rig.upload_capture("ctrl_c_stream.bin", CTRL_C_STREAM)
    capture = load_index()[0]
    good = rig.upload_capture(capture.file, capture.data)
    on_line = threading.Event()
    player = threading.Thread(target=rig.play, args=([noise],),
                              kwargs={"interval_ms": 0, "count": CTRL_C_ROUNDS,
                                      "on_sent": lambda sent: on_line.set()})
    player.start()
    try:
        assert on_line.wait(10), why(["the emulator sent no 0x03 stream"])
        since = rig.bridge.mark()
        rig.reset_bridge()  # the stream is on the line: the board boots into it
        rig.bridge.expect_line(r"^bridge: config ok; detaching REPL", timeout=20, since=since)
        assert player.is_alive(), why(["the 0x03 stream ended before the bridge detached its REPL: "
                                       "the boot was not covered by it"])
        rig.bridge.expect_line(r"^bridge: .*mqtt.*connected", timeout=30, since=since)
    finally:
        player.join(30)
    said = rig.bridge.log.lines[since:]
    assert not any("KeyboardInterrupt" in line or "Traceback" in line for line in said), \
        why(["a 0x03 from the P1 line interrupted the bridge's start-up"])
    rig.play([good], interval_ms=0, count=1)
    expected = expected_payloads(capture.data, expect)
    assert subscriber.wait_for_names(expected, timeout=15), why(["the bridge published nothing after the 0x03 stream"])
    result = compare(expected, subscriber.values(), times=1)
    assert result, why(result.problems)
