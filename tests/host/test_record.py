"""hil capture (hil/p1/record.py): framing, byte-exact recording, stopping keeps what was recorded."""

import json
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from hil.p1 import framing as p1
from hil.p1 import synth
from hil.p1.anonymise import Anonymiser, identifiers
from hil.cli.captures import cmd_capture, main
from hil.p1.record import Framer, RecordError, record
from hil.sim.clock import UNTIMED_SPEED

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SX631 = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAGEMCOM = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()


# --- framing ---

@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.sampled_from([SX631, SAGEMCOM, p1.corrupt_byte(SAGEMCOM), SX631[:700],
                                        b"\r\n", b"garbage/!", b"\xff\x00", b"x\r\n!1234"]), max_size=8),
       cuts=st.lists(st.integers(1, 3000), max_size=30))
def test_framer_agrees_with_split_telegrams(pieces, cuts):
    stream = b"".join(pieces)
    framer = Framer()
    got, pos = [], 0
    for n in cuts + [len(stream)]:
        got += framer.feed(stream[pos:pos + n])
        pos += n
    got += framer.feed(stream[pos:])
    assert got == p1.split_telegrams(stream)
    assert sum(map(len, got)) + framer.skipped + len(framer.partial) == len(stream)


def test_framer_drops_a_telegram_cut_by_a_new_header():
    cut = SX631[:SX631.index(b"\r\n", 1000) + 2]  # a meter restarts at a line end
    framer = Framer()
    assert framer.feed(cut + SAGEMCOM) == [SAGEMCOM]
    assert framer.resyncs == 1 and framer.skipped == len(cut)
    # Cut inside a line, the new '/' is not at a line start: one frame, and its CRC tells.
    framer = Framer()
    (merged,) = framer.feed(SX631[:1000] + SAGEMCOM)
    assert not p1.telegram_crc_ok(merged)


# --- recording from a stream ---

class Script:
    """A stream that hands out chunks, then times out (b''), then maybe raises."""

    def __init__(self, chunks, then=None, stop=None):
        self.chunks, self.then, self.stop = list(chunks), then, stop

    def read(self, n):
        if self.chunks:
            return self.chunks.pop(0)
        if self.stop is not None:
            self.stop.set()
        if self.then is not None:
            raise self.then
        return b""


def test_record_count_byte_exact(tmp_path):
    seq = synth.synthesize(SX631, 4, seed=1)
    stream = b"tail of an earlier telegram\r\n!0000\r\n" + b"".join(seq)
    chunks = [stream[i:i + 333] for i in range(0, len(stream), 333)]
    seen = []
    result = record(Script(chunks), tmp_path / "out.p1", count=3, on_telegram=seen.append)
    assert (tmp_path / "out.p1").read_bytes() == b"".join(seq[:3])
    assert [t.number for t in seen] == [1, 2, 3] and all(t.crc_ok for t in seen)
    assert not result.interrupted


def test_ctrl_c_keeps_complete_telegrams_and_drops_the_partial(tmp_path):
    out = tmp_path / "out.p1"
    result = record(Script([SX631, SAGEMCOM[:800], SAGEMCOM[800:], SX631[:1000]], then=KeyboardInterrupt()),
                    out, count=None)
    assert result.interrupted
    assert out.read_bytes() == SX631 + SAGEMCOM
    assert result.partial == SX631[:1000]


def test_stop_event_and_bad_crc_are_kept_as_received(tmp_path):
    stop = threading.Event()
    bad = p1.corrupt_byte(SX631)
    result = record(Script([bad, SAGEMCOM, SAGEMCOM[:10]], stop=stop), tmp_path / "out.p1", stop=stop)
    assert result.interrupted and result.bad_crc == 1
    assert (tmp_path / "out.p1").read_bytes() == bad + SAGEMCOM


def test_record_refuses_to_overwrite(tmp_path):
    (tmp_path / "out.p1").write_bytes(b"precious")
    with pytest.raises(RecordError):
        record(Script([SX631]), tmp_path / "out.p1", count=1)
    assert (tmp_path / "out.p1").read_bytes() == b"precious"


def test_each_telegram_is_on_disk_when_it_completes(tmp_path):
    out = tmp_path / "out.p1"
    sizes = []
    record(Script([SX631, SAGEMCOM]), out, count=2, on_telegram=lambda t: sizes.append(out.stat().st_size))
    assert sizes == [len(SX631), len(SX631) + len(SAGEMCOM)]


def test_anonymise_on_the_way(tmp_path):
    seq = synth.synthesize(SAGEMCOM, 3, seed=4)
    result = record(Script(seq), tmp_path / "out.p1", count=3, anonymiser=Anonymiser("k"))
    data = (tmp_path / "out.p1").read_bytes()
    assert data == Anonymiser("k").data(b"".join(seq))
    for ident in identifiers(SAGEMCOM):
        assert ident not in data and ident.hex().encode() not in data
    assert all(t.crc_ok for t in result.telegrams) and all(p1.telegram_crc_ok(t.data) for t in result.telegrams)


# --- through a serial port (a pty pair standing in for the USB-UART) ---

@pytest.fixture
def pty_port():
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _feed(master, data, chunk=512, pause=0.002):
    def run():
        for i in range(0, len(data), chunk):
            os.write(master, data[i:i + chunk])
            time.sleep(pause)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class _Watched:
    """The recorder's port, counting what it has read: the test waits on that,
    not on time."""

    def __init__(self, port):
        self._port = port
        self.read_total = 0
        self.changed = threading.Condition()

    def read(self, n):
        data = self._port.read(n)
        with self.changed:
            self.read_total += len(data)
            self.changed.notify_all()
        return data

    def wait_read(self, nbytes: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.read_total >= nbytes, timeout)

    def __enter__(self):
        self._port.__enter__()
        return self

    def __exit__(self, *exc):
        return self._port.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._port, name)


@pytest.fixture
def recorder_port(monkeypatch):
    """Set once `hil capture` has opened its port and dropped the bytes queued
    before it listened (hil.p1.record.open_port); .port: the port, watched."""
    import hil.p1.record as record_module

    opened = threading.Event()
    real = record_module.open_port

    def open_port(*args, **kwargs):
        opened.port = _Watched(real(*args, **kwargs))
        opened.set()
        return opened.port
    monkeypatch.setattr(record_module, "open_port", open_port)
    return opened


def _feed_when(opened: threading.Event, master, data):
    """Feed `data` once the recorder listens (bytes before that are dropped, by design)."""
    def run():
        if opened.wait(30):
            _feed(master, data).join()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_cli_records_from_a_serial_port(tmp_path, pty_port, capsys, recorder_port):
    master, port = pty_port
    seq = synth.synthesize(SX631, 3, seed=9)
    out = tmp_path / "rec.p1"
    _feed_when(recorder_port, master, SAGEMCOM[600:] + b"".join(seq))
    assert main(["capture", "--port", port, "--count", "3", "--out", str(out)]) == 0
    assert out.read_bytes() == b"".join(seq)
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("CRC ok") == 3 and "3 telegrams written" in text


def test_cli_stop_keeps_what_was_recorded(tmp_path, pty_port, capsys, recorder_port):
    master, port = pty_port
    out = tmp_path / "rec.p1"
    stop = threading.Event()
    data = SX631 + SX631[:900]

    def feed_then_stop():
        _feed_when(recorder_port, master, data).join()
        # Stopped once the recorder has read every byte, as a user's Ctrl-C
        # comes after the line went quiet; the CLI's handler sets this event.
        if recorder_port.is_set():
            recorder_port.port.wait_read(len(data), 30)
        stop.set()

    threading.Thread(target=feed_then_stop, daemon=True).start()
    args = _capture_args(port, out, anonymise=True)
    assert cmd_capture(args, stop=stop) == 0
    data = out.read_bytes()
    assert len(p1.split_telegrams(data)) == 1 and p1.validate(data) == []
    assert b"9903218166" not in data
    text = " ".join(capsys.readouterr().out.split())
    assert "incomplete telegram at the end: 900 bytes, not written" in text and "stopped" in text


def _capture_args(port, out, count=None, anonymise=False):
    import argparse
    return argparse.Namespace(port=port, out=str(out), count=count, anonymise=anonymise, seed="t", baud=115200)


def test_cli_reports_a_missing_port(tmp_path):
    assert main(["capture", "--port", str(tmp_path / "ttyUSB9"), "--count", "1",
                 "--out", str(tmp_path / "x.p1")]) == 2
    assert not (tmp_path / "x.p1").exists()


# --- end to end on the virtual rig: upload, play, record from ports["p1"] ---

@pytest.fixture(scope="module")
def virtual_rig():
    from hil.sim.handle import VirtualRig

    with VirtualRig(board_speed=UNTIMED_SPEED) as sim:
        if "p1" not in sim.ports:
            pytest.skip("this virtual rig has no USB-UART tap on the P1 line (ports['p1'])")
        yield sim


def test_upload_then_record_what_the_emulator_plays(virtual_rig, tmp_path, capsys, recorder_port):
    from hil.rig.board import Board
    from hil.rig.rig import BrokerAccess, Rig

    seq = synth.synthesize(SX631, 2, seed=11) + synth.synthesize(SAGEMCOM, 2, seed=11)
    src = tmp_path / "mixed.p1"
    src.write_bytes(b"".join(seq))
    assert main(["captures", "upload", str(src), "--port", virtual_rig.ports["emulator"]]) == 0
    assert "uploaded" in capsys.readouterr().out
    assert (virtual_rig.flash["emulator"] / "captures" / "mixed.p1").read_bytes() == src.read_bytes()
    # Without --port, the emulator's binding in the rig config, as `hil play` finds it.
    cfg = tmp_path / "rig.json"
    cfg.write_text(json.dumps({"boards": {"emulator": virtual_rig.ports["emulator"]}}))
    assert main(["captures", "upload", str(src), "--rig-config", str(cfg), "--name", "again.p1"]) == 0
    assert (virtual_rig.flash["emulator"] / "captures" / "again.p1").read_bytes() == src.read_bytes()

    out = tmp_path / "recorded.p1"
    stop = threading.Event()
    recorded = {}
    recorder = threading.Thread(target=lambda: recorded.update(
        rc=cmd_capture(_capture_args(virtual_rig.ports["p1"], out, count=len(seq) * 2), stop=stop)))
    recorder.start()
    assert recorder_port.wait(10), "hil capture never opened the P1 tap"  # and dropped the bytes queued before
    rig = Rig(Board("emulator", virtual_rig.ports["emulator"]), Board("bridge", virtual_rig.ports["bridge"]),
              BrokerAccess("127.0.0.1", 1, "unused", "unused"))
    try:
        rig.emulator.open()
        rig.deploy_emulator()
        sent = rig.play(["captures/mixed.p1"], interval_ms=300, count=2)
    finally:
        rig.emulator.close()
    recorder.join(timeout=30)
    stop.set()
    recorder.join(timeout=5)
    assert recorded.get("rc") == 0, capsys.readouterr().out
    # The emulator plays a file as one burst, however many telegrams it holds.
    assert sum(t.nbytes for t in sent) == len(src.read_bytes()) * 2
    assert out.read_bytes() == b"".join(seq) * 2  # byte-exact what the emulator sent, in order
