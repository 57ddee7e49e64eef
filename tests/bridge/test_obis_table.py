"""obis.TABLE is a literal the host can read; the firmware's lookup structures
derived from it on MicroPython agree with it; the contract names are intact."""

import ast
import json

from conftest import FIRMWARE, run_mpy
from hil.oracle.contract import TOPICS
from test_reader import CONTRACT, NEW_FIELDS


def read_table():
    tree = ast.parse((FIRMWARE / "obis.py").read_text())
    found = [n for n in tree.body if isinstance(n, ast.Assign)
             and [getattr(t, "id", None) for t in n.targets] == ["TABLE"]]
    assert len(found) == 1, "obis.py must assign TABLE exactly once at module level"
    return ast.literal_eval(found[0].value)


def pack(code):
    ab, cde = code.split(":")
    a, b = map(int, ab.split("-"))
    c, d, e = map(int, cde.split("."))
    return (a << 26) | (b << 24) | (c << 16) | (d << 8) | e


def test_table_is_the_contract_plus_the_new_fields():
    table = read_table()
    assert all(isinstance(r, tuple) and len(r) == 3 and all(isinstance(x, str) for x in r) for r in table)
    codes = [r[0] for r in table]
    assert len(codes) == len(set(codes)), "an OBIS code appears twice"
    rows = {code: (name, kind) for code, name, kind in table}
    # The seed names stay exactly as they are (and agree with the host's contract table).
    assert dict(TOPICS) == CONTRACT
    for code, name in CONTRACT.items():
        assert rows[code] == (name, "number"), code
    for code, nk in NEW_FIELDS.items():
        assert rows[code] == nk, code
    assert set(rows) == set(CONTRACT) | set(NEW_FIELDS)
    assert "0-0:96.13.0" not in rows  # the 1 KB 0xFF consumer message is never published
    # One topic, one kind: both breaker codes publish one vocabulary.
    kinds = {}
    for _, name, kind in table:
        assert kinds.setdefault(name, kind) == kind, name


def test_derived_structures_agree_with_table():
    table = read_table()
    d = json.loads(run_mpy("run_obis.py").strip().splitlines()[-1])
    names = list(dict.fromkeys(name for _, name, _ in table))  # first appearance order
    assert d["names"] == names and d["count"] == len(names) == 44
    assert d["kinds"] == ["number", "text", "breaker", "profile"]
    assert d["kind"] == [d["kinds"].index(next(k for _, n, k in table if n == name)) for name in names]
    assert {int(k): v for k, v in d["slot"].items()} == {pack(code): names.index(name) for code, name, _ in table}
    assert d["widths"][d["kinds"].index("profile")] >= 256


def test_obismap_is_generated_from_table():
    # The firmware imports obismap.py (obis.py's constants would cost ~5 KB of
    # the ESP8266 heap at run time); it must be exactly what TABLE generates.
    want = run_mpy("gen_obismap.py")
    assert (FIRMWARE / "obismap.py").read_text() == want, (
        "bridge_firmware/obismap.py is stale: regenerate it with\n  MICROPYPATH=.frozen:bridge_firmware "
        ".venv/bin/micropython tests/bridge/mpy/gen_obismap.py > bridge_firmware/obismap.py")
