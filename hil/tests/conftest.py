"""Helpers shared by the HIL tests."""
from __future__ import annotations

import time

import pytest

from ..oracle.outside import HeapTrace, Restart, serial_events
from hil.rig.board import BoardTimeout, log_stamp
from hil.sim.chip_time import longest
from hil.sim.line import telegram_spans
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model
from ..oracle.verdict import explain

from .scenario import HEAP_DROP_MAX, REPLAY_INTERVAL_MS


@pytest.fixture
def why(rig, broker, request, rig_kind):
    """why(problems) → failure text with the boards' and the broker's logs and,
    on the virtual rig, what its P1 line dropped during the test and whether
    the host's load can explain it."""
    sim = request.getfixturevalue("virtual_rig") if rig_kind == "sim" else None
    before = sim.line() if sim is not None else None
    started, started_unix = time.monotonic(), time.time()

    def _why(problems: list[str]) -> str:
        sources = list(rig.evidence())
        if sim is not None:
            stats = sim.stats()
            text = _line_drops(before, stats.line, started)
            stretches = longest(sim.clock_stretches("bridge", started_unix))
            if stretches:
                text += ("\nthe bridge's longest stretches of computing without a wait (chip ms, by function; "
                         "hil/sim/chip_time.py): " + "; ".join(
                             f"{log_stamp(x.done_at)} {x.describe()}" for x in stretches))
            if stats.host_speed is not None:
                text += "\n" + stats.host_speed.describe()
            sources.insert(0, ("the virtual P1 line during this test", text))
        return explain(problems, *sources, (f"broker log ({broker.log_path})", broker.log_tail(15)))
    return _why


def _wall(monotonic: float) -> str:
    """A host monotonic time as the rig's logs stamp their lines."""
    return log_stamp(time.time() - (time.monotonic() - monotonic))


def _line_drops(before, after, since: float) -> str:
    lost = after.rx_overflow - before.rx_overflow
    waiting = after.rx_overflow_waiting - before.rx_overflow_waiting
    text = f"the bridge's UART0 ring dropped {lost} B (the most it has held since the rig started: {after.rx_peak} B)"
    unread = after.longest_unread(since)
    if unread:
        text += ("; the longest waits between its reads while bytes waited (1,024 B last 89 ms at 115200 baud): "
                 + ", ".join(f"{s * 1000:.0f} ms (read at {_wall(at)})" for at, s in unread))
    if waiting:
        text += (f"; {waiting} B of it while the host kept the virtual bridge waiting for a CPU long enough to "
                 "explain them: those are the rig's loss, not the firmware's")
        if waiting == lost:
            text += " (run again on a less busy machine)"
    return text


@pytest.fixture
def virtual_rig_stats(request, rig_kind):
    """() → framing errors the virtual line has counted; None on real boards."""
    if rig_kind != "sim":
        return lambda: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda: sim.line().framing_errors


@pytest.fixture
def bridge_chip_time(request, rig_kind, chip_speed):
    """(fresh_within=0) → where the virtual bridge's chip time went so far
    (hil.sim.chip_time.Profile); {} on real boards and at host speed."""
    if rig_kind != "sim" or not chip_speed:
        return lambda fresh_within=0.0: {}
    sim = request.getfixturevalue("virtual_rig")
    return lambda fresh_within=0.0: sim.clock_profile("bridge", fresh_within)


@pytest.fixture
def line_telegrams(request, rig_kind):
    """(sent) → (first byte, last byte) host times of each telegram on the
    virtual P1 line, once the line is idle after `sent`; None on real boards
    or where back-to-back telegrams ran into one burst."""
    if rig_kind != "sim":
        return lambda sent: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda sent: telegram_spans(sim.line().bursts, [t.nbytes for t in sent])


@pytest.fixture
def telegram_end_times(line_telegrams):
    """(sent) → host time each telegram's last byte left the line; call it
    once the line is idle after `sent`.

    On the virtual rig the line model reports it; on real boards (and where
    back-to-back telegrams ran into one burst) the emulator's report of its
    last byte sent (read over USB) stands in, a few ms late."""
    def ends(sent):
        spans = line_telegrams(sent)
        return [end for _start, end in spans] if spans is not None else [t.host_end for t in sent]
    return ends


class BridgeBoard:
    """The bridge's board as the rig sees it from outside: its restarts and,
    on the virtual board, its heap as the board's HAL samples it."""

    def __init__(self, rig, sim=None):
        self._rig, self._sim = rig, sim

    def restarts(self, after: float) -> list[Restart]:
        """Restarts after host time `after`: the virtual board's own count, or
        on a real board the reboots its serial output shows (cause unknown: -1)."""
        if self._sim is not None:
            board = self._sim.board("bridge")
            return [Restart(at, cause) for at, cause in zip(board.reset_at, board.reset_causes) if at > after]
        log = self._rig.bridge.log
        return [Restart(e.at, -1) for e in serial_events(log.lines, log.times) if e.kind == "reboot" and e.at > after]

    def reset_and_wait_running(self, timeout: float = 30) -> None:
        """Reset the bridge and return once its firmware has taken UART0 from
        the REPL (telegrams sent before would go to the REPL): the virtual
        board reports it. A real board's port cannot tell, so there the rig
        waits for this project's bridge's `config ok` line (Rig.restart_bridge)."""
        if self._sim is None:
            self._rig.restart_bridge(timeout)
            return
        since = time.monotonic()
        self._rig.reset_bridge()
        deadline = since + timeout
        while time.monotonic() < deadline:
            board = self._sim.board("bridge")
            if any(at > since for at in board.reset_at) and not board.repl_attached:
                return
            time.sleep(0.05)  # the virtual rig reports state on request only
        raise BoardTimeout(f"bridge: its firmware did not take UART0 from the REPL within {timeout} s of the reset\n"
                           f"{self._rig.bridge.log.tail(15)}")

    def heap(self, after: float = 0.0) -> HeapTrace | None:
        """The heap samples since `after`; None on real boards."""
        if self._sim is None:
            return None
        return HeapTrace(self._sim.heap_samples("bridge", since=after))


@pytest.fixture
def bridge_board(request, rig_kind, rig) -> BridgeBoard:
    return BridgeBoard(rig, request.getfixturevalue("virtual_rig") if rig_kind == "sim" else None)


@pytest.fixture
def line_stats(request, rig_kind):
    """() → the virtual P1 line's counters (bytes, framing errors); None on real boards."""
    if rig_kind != "sim":
        return lambda: None
    sim = request.getfixturevalue("virtual_rig")
    return sim.line


@pytest.fixture
def line_bursts(request, rig_kind):
    """(n) → the last n bursts on the virtual P1 line as [start, end, bytes]
    (host monotonic seconds); None on real boards."""
    if rig_kind != "sim":
        return lambda n: None
    sim = request.getfixturevalue("virtual_rig")
    return lambda n: sim.line().bursts[-n:]


@pytest.fixture
def wifi(request, rig_kind):
    """(up: bool) → switch the bridge's WiFi on the virtual rig; None on real boards."""
    if rig_kind != "sim":
        yield None  # a generator fixture must yield, whatever the rig
        return
    sim = request.getfixturevalue("virtual_rig")
    yield lambda up: sim.set_wifi("bridge", up)
    sim.set_wifi("bridge", True)


@pytest.fixture
def replay_interval_ms() -> int:
    """Start to start, the replay test's telegrams; a module whose bridge is
    held to the meter's own pace overrides it (test_mqtt_as.py)."""
    return REPLAY_INTERVAL_MS


@pytest.fixture
def heap_drop_max() -> int:
    """How far below its heap at rest the bridge's lowest free heap may fall
    in a scenario (hil/tests/scenario.py: HEAP_DROP_MAX)."""
    return HEAP_DROP_MAX


@pytest.fixture
def heap_floor(request, rig_kind):
    """(bytes, what) the bridge's lowest free heap must not fall below in a
    scenario (hil.rig.deploy: the floor of the way it is deployed), or None where
    its board's heap is not the chip's (the approximate board: the pytest header says so)."""
    deploy = request.config.getoption("--bridge-deploy")
    if rig_kind != "sim":
        return deploy.heap_floor, f"the bridge {deploy.words} on a real ESP8266"
    if not board_model().faithful:
        return None
    return deploy.heap_floor, f"the bridge {deploy.words} at the chip's {CHIP_FREE_AT_MAIN:,} B free at main.py"
