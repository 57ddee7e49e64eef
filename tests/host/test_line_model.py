"""The P1 line model decodes what a real UART would: exact bytes on a good
line, garbage with framing errors on a wrong polarity, baud or slow adapter."""
from __future__ import annotations

import pytest

from hil.p1.captures import sx631
from hil.sim.line import SAMPLE_RATE, P1Line, TxConfig, telegram_spans

DATA = sx631().data


def _send(line: P1Line, data: bytes = DATA) -> bytes:
    line.queue(data, 100)  # the line idles first, as a UART needs to sync
    out, now = bytearray(), 0
    while now < SAMPLE_RATE * (len(data) * 12 / line.tx.baud + 0.01):
        now += SAMPLE_RATE // 250
        out += line.advance(now)[0]
    return bytes(out)


def test_inverted_tx_through_inverting_adapter_is_exact():
    line = P1Line(tx=TxConfig(invert=True))
    assert _send(line) == DATA
    assert line.stats.framing_errors == 0 and line.stats.bytes_sent == len(DATA)


def test_non_inverted_tx_gives_garbage_and_framing_errors():
    line = P1Line(tx=TxConfig(invert=False))
    out = _send(line)
    assert out != DATA and line.stats.framing_errors > 0


@pytest.mark.parametrize("baud, exact", [(115200 * 1.02, True), (115200 * 0.98, True), (115200 * 1.05, False), (57600, False)])
def test_receiver_tolerates_2_percent_baud_error_but_not_5(baud, exact):
    line = P1Line(tx=TxConfig(baud=baud, invert=True))
    assert (_send(line) == DATA) is exact


@pytest.mark.parametrize("fall_us, exact", [(0, True), (3.0, True), (4.0, True), (5.0, False), (8.0, False)])
def test_pulse_width_distortion_beyond_half_a_bit_breaks_bytes(fall_us, exact):
    """At 115200 baud a bit is 8.7 us: edges delayed unequally by more than
    about half of it move the receiver's mid-bit samples into the next bit."""
    line = P1Line(tx=TxConfig(invert=True), fall_delay_s=fall_us * 1e-6)
    assert (_send(line) == DATA) is exact


@pytest.mark.parametrize("mode", ["missing", "stuck_high", "stuck_low"])
def test_adapter_faults_deliver_nothing_useful(mode):
    line = P1Line(tx=TxConfig(invert=True), adapter=mode)
    out = _send(line)
    assert DATA[:20] not in out


def test_bursts_record_when_telegrams_were_on_the_line():
    line = P1Line(tx=TxConfig(invert=True))
    _send(line)
    (start, end, n), = line.stats.bursts
    assert n == len(DATA)
    assert abs((end - start) / SAMPLE_RATE - len(DATA) * 10 / 115200) < 1e-4


def test_telegram_spans_join_a_telegram_split_into_bursts():
    # Two telegrams of 100 bytes: the first left the line in one burst, the
    # second in three (the transmitter paused twice), after an older one.
    bursts = [[0.0, 0.5, 100], [1.0, 1.01, 100], [2.0, 2.003, 30], [2.005, 2.006, 20], [2.01, 2.02, 50]]
    assert telegram_spans(bursts, [100, 100]) == [(1.0, 1.01), (2.0, 2.02)]
    assert telegram_spans(bursts, [100, 100, 100]) == [(0.0, 0.5), (1.0, 1.01), (2.0, 2.02)]


def test_telegram_spans_refuse_bursts_that_do_not_add_up():
    merged = [[0.0, 1.0, 200]]  # two back-to-back telegrams ran into one burst
    assert telegram_spans(merged, [100, 100]) is None
    assert telegram_spans([[0.0, 0.1, 100]], [100, 100]) is None  # fewer bursts than telegrams
