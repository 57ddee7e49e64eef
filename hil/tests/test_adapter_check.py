"""`hil adapter-check` on the rig: the documented adapter loses no telegram at
115200 baud ±2 %; on the virtual rig, a weak pull-up with 2 nF of cable to RX
(SPICE edge delays fed to the line) loses them, as it would on the bench."""
from __future__ import annotations

import pytest

from hil.rig.adapter_check import bauds, check_adapter
from ..p1.captures import sx631
from hil.circuit.spice import Adapter
from hil.sim.handle import AdapterSetting

TELEGRAMS = 30
CAPTURE = sx631().data


@pytest.fixture
def sim(request, rig_kind):
    return request.getfixturevalue("virtual_rig") if rig_kind == "sim" else None


def test_documented_adapter_passes_at_all_three_bauds(rig, broker, sim):
    report = check_adapter(rig, broker, TELEGRAMS, CAPTURE, sim=sim, adapter=Adapter() if sim else None)
    assert [r.baud for r in report.results] == bauds() == [115200, 117504, 112896]
    assert report.passed, [(r.baud, r.ok, r.log_errors) for r in report.results]
    assert all(r.sent == TELEGRAMS and r.ok == TELEGRAMS for r in report.results)
    if sim is not None:
        rise_us, fall_us = report.edge_delays_us
        assert 0.5 < rise_us < 2 and fall_us < 0.2  # from SPICE: storage time delays RX rising
        assert [r.line_framing for r in report.results] == [0, 0, 0]
    assert rig.emulator_client.command("status")["baud"] == 115200  # restored


def test_weak_pull_up_with_2nF_cable_to_rx_loses_telegrams(rig, broker, sim):
    if sim is None:
        pytest.skip("component values are only set on the virtual rig")
    bad = Adapter(r2=47e3, c_cable=2e-9, cable_at="rx")
    report = check_adapter(rig, broker, TELEGRAMS, CAPTURE, sim=sim, adapter=bad)
    assert not report.passed
    assert all(r.errors == TELEGRAMS for r in report.results), [(r.baud, r.ok) for r in report.results]
    assert report.line["framing_errors"] > 0
    assert sim.stats().adapter == AdapterSetting("ok", 0.0, 0.0)
    # The rig is healthy again for whoever comes next.
    again = check_adapter(rig, broker, 3, CAPTURE, sim=sim, adapter=Adapter(), spread=0.0)
    assert all(r.ok == 3 for r in again.results)
