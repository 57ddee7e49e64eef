"""The adapter schematic and the two-board rig wiring, drawn from code
(schemdraw) into docs/circuit/*.svg. Regenerate with `python -m hil.circuit`.

Parts and pins follow docs/ARCHITECTURE.md §6: RJ12 pins 1+2 → 1N5819 → board 5V;
R1 10 kΩ Data → +5V; R3 1 kΩ Data → BC547 base; R2 1 kΩ 3V3 → collector;
collector → bridge RX (GPIO3); emitter → GND; RJ12 pins 3, 6 → GND. In the
rig the emulator's D4 (GPIO2, UART1 TX) drives Data and the grounds are common.
"""
from __future__ import annotations

from pathlib import Path

import schemdraw
import schemdraw.elements as elm

schemdraw.use("svg")  # text stays text in the SVG (searchable, checked by the tests)

RJ12_PINS = [("1", "+5V"), ("2", "DATA REQ"), ("3", "DATA GND"), ("4", "n.c."), ("5", "DATA"), ("6", "PWR GND")]


def _rj12() -> elm.Ic:
    return elm.Ic(pins=[elm.IcPin(name=f"{name}", pin=num, side="right", anchorname=f"p{num}")
                        for num, name in reversed(RJ12_PINS)],
                  edgepadW=1.6, pinspacing=0.9, leadlen=0.6).label("RJ12 (P1 port)\nmeter side", "top", fontsize=11)


def adapter_schematic() -> schemdraw.Drawing:
    d = schemdraw.Drawing(fontsize=11, unit=2.2)
    rj = d.add(_rj12())
    # Pins 1 + 2 joined → 1N5819 → board 5V.
    d.add(elm.Line().at(rj.p1).right(0.8))
    j12 = d.add(elm.Dot())
    d.add(elm.Line().at(rj.p2).right(0.8).length(0.8))
    d.add(elm.Line().up().toy(j12.center))
    sch = d.add(elm.Schottky().at(j12.center).right().label("D1\n1N5819", "top"))
    v5 = d.add(elm.Dot())
    d.add(elm.Line().right(1.2))
    d.add(elm.Vdd().label("board 5V\n(D1 mini 5V pin)", fontsize=10))
    del sch
    # Grounds: pins 3 and 6.
    for pin in (rj.p3, rj.p6):
        d.add(elm.Line().at(pin).right(0.8))
        d.add(elm.Ground())
    # Data (pin 5) → node with R1 up to 5V and R3 to the base.
    d.add(elm.Line().at(rj.p5).right(3.0))
    data = d.add(elm.Dot().label("Data", "top"))
    # R1 between Data and the 5V node, drawn vertically beside Data.
    r1 = d.add(elm.Resistor().at((data.center[0] + 2.2, data.center[1])).up().toy(v5.center)
               .label("R1\n10 kΩ", "bottom"))
    d.add(elm.Line().at(data.center).right(2.2))
    d.add(elm.Line().at(r1.end).left().tox(v5.center))
    d.add(elm.Resistor().at(data.center).down(2.2).label("R3\n1 kΩ", "bottom"))
    d.add(elm.Line().right(4.5))
    q = d.add(elm.BjtNpn(circle=True).anchor("base").label("Q1\nBC547B", "right", ofst=(0.3, 0)))
    d.add(elm.Label().at(q.collector).label("C", "left", fontsize=9))
    d.add(elm.Label().at(q.base).label("B", "top", fontsize=9))
    d.add(elm.Label().at(q.emitter).label("E", "right", fontsize=9))
    d.add(elm.Line().at(q.emitter).down(0.4))
    d.add(elm.Ground())
    d.add(elm.Line().at(q.collector).up(0.6))
    col = d.add(elm.Dot())
    d.add(elm.Resistor().up(2.2).label("R2\n1 kΩ", "bottom"))
    d.add(elm.Vdd().label("3V3\n(D1 mini 3V3 pin)", fontsize=10))
    d.add(elm.Line().at(col.center).right(2.5))
    d.add(elm.Dot(open=True).label("RX (GPIO3)\nbridge D1 mini", "top"))
    d.add(elm.Label().at((rj.p1[0] - 7.0, rj.p6[1] - 4.0)).label(
        "BC547 pinout (TO-92, flat side facing you, legs down): C  B  E  (left to right)\n"
        "RJ12 pins 3 and 6 and the emitter go to the D1 mini GND; the meter powers the board through D1.",
        "right", fontsize=9))
    return d


def _board(title: str, pins: list[tuple[str, str]], side: str) -> elm.Ic:
    return elm.Ic(pins=[elm.IcPin(name=name, side=side, anchorname=anchor) for anchor, name in pins],
                  edgepadW=2.4, pinspacing=1.0, leadlen=0.7).label(title, "top", fontsize=11)


def rig_wiring() -> schemdraw.Drawing:
    d = schemdraw.Drawing(fontsize=11, unit=2.2)
    emu = d.add(_board("Board #1: meter emulator\nWeMos D1 mini (USB → PC)",
                       [("gnd", "GND"), ("d4", "D4 (GPIO2, UART1 TX)")], "right"))
    # Adapter box in the middle.
    ad = d.add(elm.Ic(pins=[elm.IcPin(name="GND", side="left", anchorname="gnd_l"),
                            elm.IcPin(name="Data (RJ12 pin 5)", side="left", anchorname="data"),
                            elm.IcPin(name="GND", side="right", anchorname="gnd_r"),
                            elm.IcPin(name="RX out (Q1 collector)", side="right", anchorname="rx"),
                            elm.IcPin(name="3V3 (R2)", side="right", anchorname="v33"),
                            elm.IcPin(name="+5V (R1)", side="right", anchorname="v5")],
                      edgepadW=3.2, pinspacing=1.0, leadlen=0.7)
               .at((emu.d4[0] + 6.5, emu.d4[1] - 0.0)).anchor("data")
               .label("BC547 adapter\n(schematic: adapter.svg)", "top", fontsize=11))
    d.add(elm.Wire("-").at(emu.d4).to(ad.data).label("D4 → Data", "top", fontsize=9, ofst=0.15))
    d.add(elm.Wire("-").at(emu.gnd).to(ad.gnd_l).label("common GND", "bottom", fontsize=9, ofst=0.15))
    br = d.add(_board("Board #2: bridge (product)\nWeMos D1 mini (USB → PC)",
                      [("gnd", "GND"), ("rx", "RX (GPIO3, UART0 RX)"), ("v33", "3V3"), ("v5", "5V")], "left")
               .at((ad.rx[0] + 6.5, ad.rx[1])).anchor("rx"))
    d.add(elm.Wire("-").at(ad.rx).to(br.rx))
    d.add(elm.Wire("-").at(ad.gnd_r).to(br.gnd))
    d.add(elm.Wire("-").at(ad.v33).to(br.v33))
    d.add(elm.Wire("-").at(ad.v5).to(br.v5))
    d.add(elm.Label().at((emu.gnd[0] - 3.0, emu.gnd[1] - 2.0)).label(
        "RJ12 pins 1+2 (meter +5V, Data Request) stay unconnected in the rig: both boards are USB powered.\n"
        "Emulator sends inverted like a meter (UART1 CONF0 UART_TXD_INV); the adapter inverts back.\n"
        "Field use: RJ12 pin 5 → Data, pins 1+2 → 1N5819 → 5V, pins 3 and 6 → GND (see adapter.svg).",
        "right", fontsize=9))
    return d


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, drawing in (("adapter.svg", adapter_schematic()), ("rig-wiring.svg", rig_wiring())):
        path = out / name
        drawing.config(margin=0.8)
        path.write_bytes(drawing.get_imagedata("svg"))
        paths.append(path)
    return paths
