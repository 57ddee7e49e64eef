"""The farm's config files in docs/farm/ as labgrid itself loads them: the
coordinator starts with places.yaml, an exporter starts with exporter.yaml,
and the places match exactly the ports the exporter publishes."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from hil.farm import client as farm_client
from hil.farm.coordinator import Coordinator, Exporter

ROOT = Path(__file__).resolve().parents[2]
FARM = ROOT / "docs" / "farm"
ROLES = ("emulator", "bridge")


@pytest.fixture
def coordinator(tmp_path):
    workdir = tmp_path / "coordinator"
    workdir.mkdir()
    shutil.copy(FARM / "places.yaml", workdir / "places.yaml")  # where labgrid-coordinator loads it from
    with Coordinator(workdir) as c:
        yield c


def test_the_coordinator_loads_the_two_rig_places(coordinator):
    client = coordinator.client()
    assert [line.split()[0] for line in client.run("places").splitlines()] == ["rig-a", "rig-b"]
    for place in ("rig-a", "rig-b"):
        shown = client.run("show", place=place)
        assert client.tags(place) == {"hil": "p1bridge"}
        for role in ROLES:
            assert f"{place}/rig/NetworkSerialPort/{role} -> {role}" in shown, shown


def test_a_rig_hosts_exporter_publishes_the_ports_its_place_matches(coordinator, tmp_path):
    with Exporter(tmp_path / "exporter", FARM / "exporter.yaml", coordinator.address, "rig-a", expect=2):
        client = coordinator.client()
        # Published though no board is plugged in here (labgrid marks them unavailable).
        assert client.exported() == ["rig-a/rig/NetworkSerialPort/bridge", "rig-a/rig/NetworkSerialPort/emulator"]
        shown = client.run("show", place="rig-a")
        # labgrid pairs each match with the exporter's resource of that name.
        for role in ROLES:
            assert f"Matching resource '{role}' (rig-a/rig/NetworkSerialPort/{role})" in shown, shown
        assert "Matching resource" not in client.run("show", place="rig-b"), "rig-b has no exporter yet"


def test_the_exporter_matches_boards_by_usb_path_as_hil_boards_shows_it():
    config = yaml.safe_load((FARM / "exporter.yaml").read_text())
    assert sorted(config["rig"]) == sorted(ROLES)
    paths = [config["rig"][role]["match"]["ID_PATH"] for role in ROLES]
    for path in paths:  # udev's path_id form: the controller's path, then usb-0:PORTS:CONFIG.INTERFACE
        assert re.fullmatch(r"[\w.:-]+-usb-0:[\d.]+:1\.0", path), path
    assert len(set(paths)) == 2
    assert {config["rig"][role]["speed"] for role in ROLES} == {115200}


def test_the_ci_job_reserves_by_the_tag_the_places_carry():
    job = (FARM / "ci-job.sh").read_text()
    assert "reserve --wait --shell hil=p1bridge" in job
    assert "--rig labgrid --labgrid-place +" in job
    places = yaml.safe_load((FARM / "places.yaml").read_text())
    assert all(p["tags"] == {"hil": "p1bridge"} for p in places.values())


def test_labgrid_client_missing_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(farm_client, "_bootstrap_bin", lambda: tmp_path / "nowhere")
    with pytest.raises(farm_client.FarmError, match=r"pipx install labgrid==26\.0\.1"):
        farm_client.client_executable()
