"""A board's USB port disappears and comes back (cable pulled, a hub resetting,
the kernel re-enumerating the adapter under another name): the driver waits
for it through the board's binding and reattaches, and the rig goes on.

The virtual rig pulls the cable for real: the board's pty is closed, its
stable link removed and, a D1 mini being powered by USB, the chip loses power;
plugging in gives a new pty and a power-on reset."""
from __future__ import annotations

import os
import re
import time

import pytest

from ..p1.captures import load_index
from ..oracle.expected import expected_payloads
from ..oracle.verdict import compare

UNPLUGGED_S = 1.0  # how long the cable stays out


@pytest.fixture
def usb(request, rig_kind):
    """(role, plugged) → pull or plug a virtual board's USB cable."""
    if rig_kind != "sim":
        pytest.skip("the virtual rig pulls the cable; on real boards, pull it by hand")
    sim = request.getfixturevalue("virtual_rig")
    plugged_out: list[str] = []

    def cable(role: str, plugged: bool) -> None:
        sim.plug(role, plugged)
        plugged_out.append(role) if not plugged else plugged_out.remove(role)
    yield cable
    for role in plugged_out:  # never leave a board unplugged for the next test
        sim.plug(role, True)


def _replay_once(rig, subscriber, why, capture, expect) -> None:
    remote = rig.upload_capture(capture.file, capture.data)
    sent = rig.play([remote], interval_ms=0, count=1)
    expected = expected_payloads(capture.data, expect)
    arrived = subscriber.wait_for_names(expected, timeout=15)
    result = compare(expected, subscriber.values(), times=1)
    assert len(sent) == 1 and arrived and result, why(result.problems or ["the telegram's values did not all arrive"])


def _wait_note(board, pattern: str, since: int, timeout: float) -> None:
    hit = board.log.wait_for(re.compile(pattern), since, timeout)
    assert hit, f"{board.role}: no log line matching {pattern!r} within {timeout} s:\n{board.log.tail()}"


def test_bridge_replugged_is_reattached_and_publishes_again(rig, subscriber, why, usb, virtual_rig, expect):
    capture = load_index()[0]
    since, reattaches = rig.bridge.mark(), rig.bridge.reattaches
    usb("bridge", False)
    # The background reader notices at once: its port fails under it.
    _wait_note(rig.bridge, r"^~~ hil: bridge port .* gone", since, timeout=5)
    assert not os.path.exists(rig.bridge.binding)
    time.sleep(UNPLUGGED_S)  # the scenario: the cable stays out a while
    usb("bridge", True)
    _wait_note(rig.bridge, r"^~~ hil: bridge port back as ", since, timeout=10)
    # Powered again, the bridge boots on its own (power-on reset) and connects.
    rig.bridge.expect_line(r"^bridge: mqtt connected", timeout=30, since=since)
    assert virtual_rig.board("bridge").reset_causes[-1] == 0, "expected a power-on reset"
    assert rig.bridge.reattaches == reattaches + 1
    assert rig.bridge.device == os.path.realpath(rig.bridge.binding)
    _replay_once(rig, subscriber, why, capture, expect)


def test_emulator_replugged_is_reattached_by_the_next_command(rig, subscriber, why, usb, expect):
    capture = load_index()[0]
    since, reattaches = rig.emulator.mark(), rig.emulator.reattaches
    usb("emulator", False)
    usb("emulator", True)
    # Nothing reads the emulator between commands: the next command finds the
    # port replaced, reattaches and starts the emulator's loop again.
    _replay_once(rig, subscriber, why, capture, expect)
    _wait_note(rig.emulator, r"^~~ hil: emulator port back as ", since, timeout=0)
    assert rig.emulator.reattaches == reattaches + 1
