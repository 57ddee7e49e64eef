"""A bridge whose start-up stopped at the REPL goes back to the bridge by
itself. On the chip the REPL's input is the P1 line too: two 0x03 from the
meter in the boot window, or a config.json problem, would otherwise leave a
board in the meter cupboard at the REPL for good. After repl_idle_s it resets
(machine.reset(), reset cause 4) unless a user typed stay() at the prompt.

Each test runs the production bridge on its own virtual rig with a short
repl_idle_s and reads the board's serial log from outside, as the rig does
(a rig deploys onto a board only with a longer one: it takes seconds).
"""
from __future__ import annotations

import re

import pytest

from hil.rig.board import BoardTimeout
from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY
from hil.rig.session import RigSpec, open_rig
from hil.sim.model import board_model
from hil.sim.clock import UNTIMED_SPEED

MODEL = board_model()
pytestmark = pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its machine.Timer never fires")

IDLE_S = 3
AT_REPL = rf"^bridge: at the REPL: the board resets into the bridge in {IDLE_S} s; stay\(\) keeps the REPL"
RESET_BY_ITSELF = r"^bridge: p1 -> mqtt bridge .* reset cause 4 \(soft restart\)"
UP = r"^bridge: .*mqtt.*connected"


@pytest.fixture
def bridge(tmp_path):
    """bridge(**config overrides) deploys the bridge with repl_idle_s IDLE_S on a
    fresh virtual rig; returns (rig, sim). A config with problems is not waited
    for: it never connects."""
    with open_rig(RigSpec(workdir=tmp_path, board_speed=UNTIMED_SPEED)) as session:
        rig = session.rig

        def deploy(**overrides):
            config = rig.bridge_config(repl_idle_s=IDLE_S, **overrides)
            rig.deploy_bridge(config=config, wait_connected=not overrides, deploy=MODEL.takes(DEFAULT_DEPLOY))
            return rig, session.sim

        yield deploy


def _line(rig, pattern: str, since: int, timeout: float) -> int:
    """Index in the bridge's log of the first line from `since` on matching pattern."""
    found = rig.bridge.log.wait_for(re.compile(pattern), since, timeout)
    assert found is not None, f"no {pattern!r} within {timeout} s; the bridge said:\n{rig.bridge.log.tail(25)}"
    return found[0]


def _stop_in_the_boot_window(rig, sim) -> int:
    """Reset the bridge and take its boot window with two Ctrl-C, as the rig and
    a user do; returns the log index of the line that arms the reset."""
    since = rig.bridge.mark()
    rig.bridge.discard_input()
    sim.reset("bridge")
    rig.bridge.catch_boot()  # two Ctrl-C, then the raw REPL: what the board said is in its log by now
    stopped = _line(rig, r"^bridge: start-up stopped by Ctrl-C", since, 5)
    return _line(rig, AT_REPL, stopped, 5)


def test_two_ctrl_c_in_the_boot_window_reset_into_the_bridge_when_nobody_stays(bridge):
    rig, sim = bridge()
    armed = _stop_in_the_boot_window(rig, sim)
    rig.bridge.start_monitor()
    again = _line(rig, RESET_BY_ITSELF, armed, IDLE_S + 10)
    waited = rig.bridge.log.times[again] - rig.bridge.log.times[armed]
    assert waited >= IDLE_S - 0.1, f"reset {waited:.2f} s after the REPL armed it, not {IDLE_S} s"
    _line(rig, UP, again, 30)


def test_stay_keeps_the_repl(bridge):
    rig, sim = bridge()
    armed = _stop_in_the_boot_window(rig, sim)
    assert rig.bridge.exec("stay()").startswith("bridge: staying at the REPL")
    rig.bridge.start_monitor()
    with pytest.raises(BoardTimeout):
        rig.bridge.expect_line(RESET_BY_ITSELF, timeout=IDLE_S + 3, since=armed)
    rig.bridge.enter_raw_repl()  # the monitor read the last prompt: ask for a new one
    assert rig.bridge.eval("1 + 1") == 2, "the board left the REPL after stay()"


def test_a_config_problem_resets_into_the_bridge_when_nobody_stays(bridge):
    rig, _sim = bridge(colour="blue")
    problem = _line(rig, r"^bridge: config problem: colour: unknown key", 0, 20)
    armed = _line(rig, AT_REPL, problem, 5)
    again = _line(rig, RESET_BY_ITSELF, armed, IDLE_S + 10)
    # config.json still has the problem: the board says so again and waits again.
    _line(rig, AT_REPL, _line(rig, r"^bridge: config problem: colour: unknown key", again, 20), 5)
