"""The reader behaves exactly as the 0.2.0 bytecode reader (bridge_firmware/p1reader_portable.py,
kept verbatim) on damaged streams: same sink calls with the same bytes, same log
lines, same counters, in the same chunks (mpy/diff_harness.py). The native (viper)
reader was rewritten for speed; this is the check that nothing else changed."""

import pytest

from conftest import CAPTURES, run_mpy


@pytest.mark.parametrize("seed", [1, 2])
def test_same_behaviour_as_the_bytecode_reader(seed):
    out = run_mpy("diff_harness.py", 10000, seed, CAPTURES / "sx631_aux_3ph.p1",
                  CAPTURES / "sagemcom_eon_hu_3ph.p1", heapsize="4m", timeout=120)
    assert out.strip().splitlines()[-1] == "OK 10000", out[-3000:]
