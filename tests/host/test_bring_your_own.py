"""The contract for bringing your own bridge (docs/bring-your-own-bridge.md): the
names --expect holds a bridge to, the config template, and --help pointing there."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from hil.p1.captures import sx631
from hil.oracle.contract import TOPICS
from hil.oracle.expected import expected_payloads
from hil.rig.rig import CONFIG_NAMES, RigError, fill_config_template

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bring-your-own-bridge.md"
SEED = ROOT / "hil" / "tests" / "variants" / "seed_style" / "p1seed.py"
SX631 = sx631().data
VALUES = {n: 1883 if n == "broker_port" else f"<{n}>" for n in CONFIG_NAMES}


def test_expect_contract_is_the_35_seed_names_and_all_adds_the_newer_fields():
    contract = expected_payloads(SX631, "contract")
    everything = expected_payloads(SX631, "all")
    assert set(contract) == set(TOPICS.values()) and len(contract) == 35
    assert set(contract) < set(everything)
    assert {k: everything[k] for k in contract} == contract
    with pytest.raises(ValueError, match="all, contract"):
        expected_payloads(SX631, "some")


def test_the_seed_style_bridge_knows_exactly_the_contract_names():
    """The reference bridge keeps its own copy of the table, as a user's bridge
    would (firmware imports nothing from the rig); this keeps the copy honest."""
    tree = ast.parse(SEED.read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "NAMES" for t in node.targets))
    assert ast.literal_eval(table) == dict(TOPICS)


def test_a_config_template_gets_the_rigs_values_as_json():
    template = ('{"net": {"ssid": "$wifi_ssid", "key": "$wifi_password"}, "server": "$broker_host", '
                '"port": $broker_port, "user": "$broker_user", "pass": "$broker_password", '
                '"prefix": "$base_topic", "id": "$client_id", "price": "$$5"}')
    values = dict(VALUES, broker_password='pa"ss')  # escaped, not JSON broken
    cfg = fill_config_template(template, values)
    assert cfg == {"net": {"ssid": "<wifi_ssid>", "key": "<wifi_password>"}, "server": "<broker_host>",
                   "port": 1883, "user": "<broker_user>", "pass": 'pa"ss', "prefix": "<base_topic>",
                   "id": "<client_id>", "price": "$5"}


@pytest.mark.parametrize("template, says", [
    ('{"host": "$broker_hots"}', "$broker_hots is not one of $wifi_ssid"),
    ('{"host": "$"}', "write $$ for a literal $"),
    ('{"port": "$broker_port}', "not JSON once filled in"),
])
def test_a_bad_config_template_says_what_is_wrong(template, says):
    with pytest.raises(RigError) as e:
        fill_config_template(template, VALUES)
    assert says in str(e.value)


def test_a_bad_config_template_stops_pytest_before_any_board(tmp_path):
    bad = tmp_path / "config.tmpl.json"
    bad.write_text('{"host": "$brokerhost"}')
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--bridge-config", str(bad),
                        "--collect-only", "-q", str(ROOT / "hil/tests/test_replay.py")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 4, r.stdout + r.stderr  # pytest's usage error
    assert f"--bridge-config {bad}: config template: $brokerhost is not one of" in r.stderr


def test_help_points_to_the_contract():
    assert DOC.is_file()
    pytest_help = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=120).stdout
    demo_help = subprocess.run([sys.executable, "-m", "hil.cli", "demo", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=60).stdout
    for option in ("--bridge-firmware", "--bridge-config", "--expect"):
        assert option in pytest_help and option in demo_help
    assert " ".join(pytest_help.split()).count("docs/bring-your-own-bridge.md") >= 3
    assert "docs/bring-your-own-bridge.md" in " ".join(demo_help.split())
    for name in CONFIG_NAMES:  # the doc lists every name a template may use
        assert f"${name}" in DOC.read_text()
