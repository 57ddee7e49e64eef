"""The emulator's command line survives what a host may get wrong: a line
without its newline, a flood of bytes, a line too long, a refused `line`
command (meter_emulator/PROTOCOL.md). Each time it answers with an error,
keeps playing, changes nothing, and takes the next command.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager

import pytest

from ..p1.captures import sx631
from ..oracle.dsmr import expected_values
from hil.rig.board import BoardError
from hil.rig.emulator import EmulatorError
from ..oracle.verdict import compare

MAX_LINE = 200  # PROTOCOL.md: bytes in a command line, its line end not counted
IDLE_MS = 2000  # PROTOCOL.md: an incomplete line is dropped after this long without a byte
INTERVAL_MS = 300


@pytest.fixture(scope="module")
def good(rig):
    data = sx631().data
    return data, rig.upload_capture("good.p1", data)


@pytest.fixture
def uart1_line(request, rig_kind):
    """() → (baud, inverted) the virtual P1 line sees the emulator's UART1
    send with; None on real boards."""
    if rig_kind != "sim":
        return lambda: None
    sim = request.getfixturevalue("virtual_rig")

    def get():
        tx = sim.stats().tx
        return tx.baud, tx.invert
    return get


class Port:
    """The emulator's messages in the order it wrote them, and raw writes."""

    def __init__(self, rig, why):
        self.rig, self.why = rig, why
        self.seen: list[dict] = []

    def on_event(self, at: float, msg: dict) -> None:
        self.seen.append(msg)

    def write(self, data: bytes) -> None:
        self.rig.emulator_client.start()
        self.rig.emulator_client.board.transport.serial.write(data)

    def command(self, text: str) -> dict:
        return self.rig.emulator_client.command(text, on_event=self.on_event)

    def _next(self, what: str, deadline: float) -> dict:
        try:
            _, msg = self.rig.emulator_client._next(max(0.1, deadline - time.monotonic()))
        except BoardError as e:
            pytest.fail(self.why([f"waiting for {what}: {str(e).splitlines()[0]}",
                                  f"messages since: {self.seen[-5:]}"]), pytrace=False)
        self.seen.append(msg)
        return msg

    def telegrams_after(self, seq: int, n: int, timeout: float) -> list[dict]:
        """Wait for n `sent` events after telegram `seq`; returns any replies
        that came meanwhile (there should be none)."""
        deadline = time.monotonic() + timeout
        replies = []
        while sum(m.get("event") == "sent" and m["seq"] > seq for m in self.seen) < n:
            msg = self._next(f"{n} telegrams after #{seq} (is the emulator's loop stuck?)", deadline)
            if "event" not in msg:
                replies.append(msg)
        return replies

    def reply(self, what: str, timeout: float) -> dict:
        """The next message that is not an event."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(what, deadline)
            if "event" not in msg:
                return msg


@contextmanager
def playing(port: Port, remote: str):
    """Play `remote` round after round while the block runs; stop it after."""
    port.command(f"play {remote} interval_ms={INTERVAL_MS} count=0")
    ok = False
    try:
        yield
        ok = True
    finally:
        if ok:
            if port.command("stop")["stopping"]:
                deadline = time.monotonic() + 10
                while not any(m.get("event") == "done" for m in port.seen):
                    port._next("the done event after stop", deadline)
        else:
            # A failed test may leave a half line in the emulator: Ctrl-C ends
            # the loop with it, so that no late reply meets the next test.
            port.rig.emulator_client.stop_serving()


def test_line_without_newline_is_dropped_and_playing_goes_on(rig, why, good):
    port = Port(rig, why)
    with playing(port, good[1]):
        seq = port.command("status")["telegrams"]
        port.write(b"status")  # no newline
        # Playing goes on while the line waits for its end, and it is no command yet.
        early = port.telegrams_after(seq, 3, timeout=3 * INTERVAL_MS / 1000 + 10)
        assert not early, why([f"the emulator answered a line without a newline: {early}"])
        # With no byte for IDLE_MS it is dropped, with an error reply of its own.
        reply = port.reply("the error reply for the incomplete line", IDLE_MS / 1000 + 10)
        assert reply.get("ok") is False and "no newline" in reply.get("error", "") \
            and "status" in reply["error"], why([f"expected an error reply for the dropped line, got {reply}"])
        # The next complete command is answered, and is not joined to the dropped bytes.
        version = port.command("version")
        assert version["protocol"] == 1, why([f"version answered {version}"])
        status = port.command("status")
        assert status["playing"] and status["telegrams"] >= seq + 3, why([f"status after it: {status}"])


def test_flood_without_newline_is_dropped_and_playing_goes_on(rig, why, good):
    """64 KB without a newline, more than the emulator's whole heap (35 KB):
    the emulator must count and drop them, not grow, hang or crash. (The
    virtual board's USB relay drops what its pty cannot take: some 14 KB
    reach the firmware, which was enough to crash the old loop.)"""
    port = Port(rig, why)
    flood = 64 * 1024
    with playing(port, good[1]):
        seq = port.command("status")["telegrams"]
        port.write(b"x" * flood)
        early = port.telegrams_after(seq, 3, timeout=3 * INTERVAL_MS / 1000 + 15)
        assert not early, why([f"the emulator answered while the flood had no newline: {early}"])
        reply = port.reply("the error reply for the flood", IDLE_MS / 1000 + 15)
        got = re.search(r"line of (\d+) bytes is too long \(at most (\d+)\)", reply.get("error", ""))
        assert reply.get("ok") is False and got and int(got[2]) == MAX_LINE \
            and MAX_LINE < int(got[1]) <= flood, why([f"expected a too-long error for the flood, got {reply}"])
        version = port.command("version")
        assert version["protocol"] == 1, why([f"version answered {version}"])
        status = port.command("status")
        assert status["playing"] and status["telegrams"] >= seq + 3, why([f"status after the flood: {status}"])


def test_line_length_limit(rig, why):
    """Up to MAX_LINE bytes is a command; a longer line gets an error at its
    end and is not kept; the next command is answered."""
    port = Port(rig, why)
    padded = "status" + " " * (MAX_LINE - len("status"))
    assert port.command(padded)["ok"]
    for length in (MAX_LINE + 1, 5000):
        with pytest.raises(EmulatorError, match=rf"line of {length} bytes is too long \(at most {MAX_LINE}\)"):
            port.command((padded + "x" * length)[:length])
    assert port.command("version")["protocol"] == 1
    # CR alone ends a line too (a terminal's Enter).
    port.write(b"version\r")
    reply = port.reply("the reply to a line ended by CR", 10)
    assert reply.get("protocol") == 1, why([f"'version' + CR answered {reply}"])


REFUSED_LINE_COMMANDS = (
    ("line baud=abc", "integer"),
    ("line baud=5", r"300\.\.921600"),
    ("line baud=1000000", r"300\.\.921600"),
    ("line invert", "needs a value"),  # not invert=1: a bare option is refused
    ("line baud", "needs a value"),
    ("line baud=", "integer"),
    ("line invert=7", r"0\.\.1"),
    ("line invert=-1", r"0\.\.1"),
    ("line invert=yes", "integer"),
    ("line bogus=1", "unknown option"),
    ("line baud=57600 invert=2", r"0\.\.1"),  # a good value next to a bad one changes nothing either
    ("line baud=57600 parity=1", "unknown option"),
)


def _refuse_all(port: Port, uart1_line, why, baud: int, inverted: bool) -> None:
    for bad, hint in REFUSED_LINE_COMMANDS:
        with pytest.raises(EmulatorError, match=hint):
            port.command(bad)
        status = port.command("status")
        assert (status["baud"], status["inverted"]) == (baud, inverted), \
            why([f"after the refused {bad!r} the emulator reports {status['baud']} baud, "
                 f"inverted={status['inverted']}; it was {baud}, inverted={inverted}"])
        line = uart1_line()
        assert line is None or line == (baud, inverted), \
            why([f"after the refused {bad!r} UART1 sends at {line} (baud, inverted); it was {(baud, inverted)}"])


def test_refused_line_commands_change_nothing_and_telegrams_stay_good(rig, subscriber, why, good, uart1_line,
                                                                      line_stats):
    port = Port(rig, why)
    port.command("line baud=115200 invert=1")
    _refuse_all(port, uart1_line, why, 115200, True)
    subscriber.clear()  # only this telegram's values count
    before = line_stats()
    sent = rig.play([good[1]], interval_ms=0, count=1)
    after = line_stats()
    assert [s.nbytes for s in sent] == [len(good[0])], why([f"sent {sent}"])
    expected = expected_values(good[0])
    subscriber.wait_for_names(expected, timeout=10)
    result = compare(expected, subscriber.values(), times=1)
    problems = list(result.problems)
    if before is not None and after.framing_errors != before.framing_errors:
        problems.append(f"framing errors on the line: {before.framing_errors} → {after.framing_errors}")
    assert not problems, why(problems)


def test_refused_line_commands_keep_a_changed_line(rig, why, uart1_line):
    """From a line set away from the defaults, so that a refused command that
    fell back to them would show."""
    port = Port(rig, why)
    reply = port.command("line baud=57600 invert=0")
    assert (reply["baud"], reply["inverted"]) == (57600, False), why([f"line answered {reply}"])
    try:
        _refuse_all(port, uart1_line, why, 57600, False)
    finally:
        port.command("line baud=115200 invert=1")
