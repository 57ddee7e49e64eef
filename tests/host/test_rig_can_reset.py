"""Rig.can_reset_bridge: what test_boot_window asks before it resets the bridge,
so that only a rig without a reset skips, and a failing reset fails."""
from __future__ import annotations

from hil.rig.board import Board
from hil.rig.rig import BrokerAccess, Rig


def _rig(reset_bridge=None) -> Rig:
    return Rig(Board("emulator", "/dev/ttyUSB8"), Board("bridge", "/dev/ttyUSB9"),
               BrokerAccess("127.0.0.1", 1, "unused", "unused"), reset_bridge=reset_bridge)


def test_a_rig_without_a_reset_binding_says_it_cannot_reset():
    assert _rig().can_reset_bridge is False


def test_a_rig_with_a_reset_binding_says_it_can():
    assert _rig(reset_bridge=lambda: None).can_reset_bridge is True
