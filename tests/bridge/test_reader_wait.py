"""P1Reader.run waits on the stream between telegrams instead of polling it.

At the chip's speed every poll is an asyncio task switch (~1.5 ms of an 80 MHz
ESP8266): a reader that tries the UART every 10 ms while the line is quiet
spends ~15 % of the chip on nothing. The test stream counts the reader's
readinto calls; inside a telegram the reader must still notice silence by
itself (expire() after timeout_ms), which a pure wait would not.
"""

import json

import pytest

from conftest import CAPTURES, run_mpy

IDLE_MS = 600


@pytest.mark.parametrize("variant", ["native", "portable"])
def test_reader_waits_while_idle_and_still_expires_a_silent_telegram(variant):
    args = [CAPTURES / "sx631_aux_3ph.p1", IDLE_MS, 400] + (["portable"] if variant == "portable" else [])
    out = json.loads(run_mpy("run_reader_wait.py", *args).strip().splitlines()[-1])
    # Polling every 10 ms would make ~60 calls in 600 ms; waiting makes one
    # (the try before the wait). A little slack for a spurious wake-up.
    assert out["idle_reads"] <= 3, out
    # The wait wakes when bytes come: the telegram after the quiet spell is read.
    assert out["ok_after_idle"] == 1, out
    # Bytes waiting are all read in one turn, not 128 B a turn: at the chip's
    # speed a round of the other tasks takes 50-100 ms, and a chunk per turn
    # let the 1 KB UART ring overflow.
    assert out["left_after_a_turn"] == 0 and out["ok_after_a_turn"] == 2, out
    # Half a telegram, then silence for twice timeout_ms: truncated by the reader itself.
    assert out["truncated"] == 1 and not out["in_telegram"], out
