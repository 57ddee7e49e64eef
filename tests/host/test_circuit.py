"""The adapter on paper: ngspice timing of the documented BC547 circuit, a
failing variant with its reason, the cached edge delays for the virtual line,
and the docs/circuit drawings (rendered, with the parts and pins of docs/ARCHITECTURE.md §6)."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hil.circuit import drawings
from hil.circuit.spice import Adapter, check, edge_delays, parse_si

ROOT = Path(__file__).resolve().parents[2]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None,
                                   reason="ngspice missing: scripts/bootstrap installs it (apt-get install ngspice)")
BIT_US = 1e6 / 115200


@needs_ngspice
def test_documented_circuit_passes_with_margin():
    """Rig (emulator push-pull driving Data): margin ≥ 1.3 µs (15 % of a bit) at ±2 % baud.
    Measured: 1.57 µs; TX→RX rising 1.14 µs, almost all BC547 storage time."""
    t = check(Adapter())
    assert t.ok, t.reason()
    assert t.margin * 1e6 >= 1.3, t.reason()
    assert t.opening * 1e6 >= 0.8 * BIT_US, t.reason()
    assert 0.5 <= t.storage_time * 1e6 <= 2.0  # storage time is modelled, not ignored
    assert t.fall_delay * 1e6 < 0.2 and t.rise_time * 1e9 < 100 and t.fall_time * 1e9 < 100
    assert "passes" in t.reason()


@needs_ngspice
def test_documented_circuit_passes_on_a_meter_and_with_twice_the_storage_time():
    meter = check(Adapter(driver="meter"))
    assert meter.ok and meter.margin * 1e6 >= 2.0, meter.reason()
    slow = check(Adapter(tr_scale=2.0))
    assert slow.ok, slow.reason()


@needs_ngspice
def test_weak_pull_up_with_2nF_of_cable_to_rx_fails_and_says_why():
    t = check(Adapter(r2=47e3, c_cable=2e-9, cable_at="rx"))
    assert not t.ok
    reason = t.reason()
    assert reason.startswith("fails:") and "R2" in reason and "never rises past VIH" in reason, reason


@needs_ngspice
def test_weak_pull_up_with_2nF_on_the_data_line_barely_passes():
    """The cable on the data line is driven push-pull (40 Ω · 2 nF = 80 ns): it
    costs almost nothing; R2 = 47 kΩ slows RX to ~2.3 µs and eats most of the margin."""
    t = check(Adapter(r2=47e3, c_cable=2e-9))
    documented = check(Adapter())
    assert t.ok and t.margin < documented.margin / 2, t.reason()


@needs_ngspice
def test_edge_delays_come_from_spice_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_CIRCUIT_CACHE", str(tmp_path))
    rise, fall = edge_delays()
    assert 0.5e-6 < rise < 2e-6 and 0 < fall < 0.2e-6  # RX rising waits for the storage time
    assert len(list(tmp_path.glob("*.json"))) == 1
    start = time.monotonic()
    assert edge_delays(Adapter()) == (rise, fall)
    assert time.monotonic() - start < 0.05
    bad_rise, _ = edge_delays(r2=47e3, c_cable=2e-9, cable_at="rx")
    assert bad_rise == 0.1  # never crosses VIH: capped, the line loses those pulses


@pytest.mark.parametrize("text, value", [("10k", 1e4), ("4k7", 4700), ("100p", 1e-10), ("2n", 2e-9),
                                         ("1M", 1e6), ("47", 47.0), ("10 kΩ", 1e4), ("2.2nF", 2.2e-9)])
def test_si_values(text, value):
    assert parse_si(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "k10", "10x", "4.7k7"])
def test_si_values_refused(bad):
    with pytest.raises(ValueError):
        parse_si(bad)


SCHEMATIC_TEXT = ["RJ12", "1N5819", "BC547B", "R1", "10 kΩ", "R2", "R3", "1 kΩ", "DATA", "DATA REQ", "n.c.",
                  "+5V", "3V3", "5V", "RX (GPIO3)", "GND", "C B E"]
WIRING_TEXT = ["D4 (GPIO2, UART1 TX)", "RX (GPIO3, UART0 RX)", "Data (RJ12 pin 5)", "3V3", "5V", "GND",
               "common GND", "D1 mini"]


def _svg_text(path: Path) -> str:
    import re
    return " ".join(re.sub(r"<[^>]+>", " ", path.read_text()).split())


@pytest.mark.parametrize("name, words", [("adapter.svg", SCHEMATIC_TEXT), ("rig-wiring.svg", WIRING_TEXT)])
def test_drawings_render_and_name_parts_and_pins(tmp_path, name, words):
    if shutil.which("rsvg-convert") is None:
        pytest.skip("rsvg-convert missing: scripts/bootstrap installs librsvg2-bin")
    fresh = {p.name: p for p in drawings.write_all(tmp_path)}
    committed = ROOT / "docs" / "circuit" / name
    assert committed.exists(), "run `python -m hil.circuit` and commit docs/circuit"
    assert committed.read_text() == fresh[name].read_text(), "docs/circuit is stale: run `python -m hil.circuit`"
    png = tmp_path / (name + ".png")
    subprocess.run(["rsvg-convert", "-b", "white", "-w", "1200", str(committed), "-o", str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = _svg_text(committed)
    missing = [w for w in words if w not in text]
    assert not missing, f"{name} lacks {missing}"
    if name == "adapter.svg":  # every RJ12 pin number is drawn
        assert all(f" {n} " in f" {text} " for n in "123456")
