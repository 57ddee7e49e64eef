"""The bridge with the real mqtt_as as its MQTT backend, frozen into the firmware
image together with the bridge (bridge_firmware/manifest_mqtt_as.py, the image a
user flashes for `"backend": "mqtt_as"`), at the chip's heap, on a virtual rig
of its own: the replay test and the four overflow and network scenarios, the
very test functions the built-in client passes (imported below, so their checks
are one code), plus a check that mqtt_as really is the backend in use.

At the chip's speed (--board-speed chip) mqtt_as keeps up with the SX631's own
pace, a telegram every 10 s, and not with the faster lines the scenarios play:
its reader task wakes every 5 ms and takes a lock to look for a packet, and each
of its publishes waits for its PUBACK in a task of its own, so at rest it spends
well over half of a 160 MHz chip's time in asyncio (bench/bridge_chip_time.py
--backend mqtt_as: every telegram whole, the last value 1.7-3.2 s after the
telegram's end, 6.3-7.1 s of each 10 s computing). So there the replay test
plays at the meter's pace, and the four scenarios that play a telegram every
0.3 s or back to back skip, saying so (run them at --board-speed host for their
logic); docs/FIDELITY.md ("CPU speed") gives what they found at the chip's speed.

mqtt_as comes from MQTT_AS_DIR, a directory with mqtt_as.py (CI: ../shared/mqtt_as);
without it these tests skip, unless the run was told to have it (MQTT_AS_DIR set,
or CI set): then they fail (hil.mqtt_as_source).
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import pytest

from ..net.subscriber import Subscriber
from ..p1.framing import METER_INTERVAL_MS
from hil.rig.rig import BRIDGE_FIRMWARE
from ..rig.session import MQTT_AS_MANIFEST, BridgeSpec, RigSpec, open_rig
from hil.sim.model import CHIP_FREE_AT_MAIN, board_model

from . import scenario, test_network, test_overflow, test_replay
from hil.rig.deploy import Deploy

# Timing and heap figures: under pytest -n these run in one worker of their own (hil/pytest_plugin.py).
pytestmark = pytest.mark.timing  # the network and overflow scenarios again, with mqtt_as


@pytest.fixture(scope="module")
def mqtt_as_session(request, rig_kind, tmp_path_factory):
    """Broker, virtual rig and both firmwares, the bridge board running the image
    with the bridge and mqtt_as frozen in, config.json saying backend mqtt_as."""
    if rig_kind != "sim":
        pytest.skip("builds a virtual rig of its own; on real boards flash the image of "
                    "bridge_firmware/manifest_mqtt_as.py and run the suite with --bridge-deploy frozen")
    mqtt_as = request.getfixturevalue("mqtt_as_dir")
    model = board_model()
    if not model.faithful:
        pytest.skip(f"{model.name}: a frozen image needs the virtual ESP8266 (scripts/bootstrap with MICROPYTHON_SRC)")
    firmware = Path(request.config.getoption("--bridge-firmware") or BRIDGE_FIRMWARE).resolve()
    if not (firmware / MQTT_AS_MANIFEST).is_file():
        pytest.skip(f"no {firmware / MQTT_AS_MANIFEST}: the firmware under test has no manifest that freezes mqtt_as")
    with open_rig(RigSpec(workdir=tmp_path_factory.mktemp("mqtt_as"), bridge=BridgeSpec.mqtt_as(firmware, mqtt_as),
                          board_speed=request.config.getoption("--board-speed"))) as session:
        yield session


@pytest.fixture(scope="module")
def broker(mqtt_as_session):
    return mqtt_as_session.broker


@pytest.fixture(scope="module")
def virtual_rig(mqtt_as_session):
    return mqtt_as_session.sim


@pytest.fixture(scope="module")
def rig(mqtt_as_session):
    """This module's rig, once the bridge is known to run on mqtt_as: a bridge
    that fell back to its built-in client would pass the scenarios for the
    wrong backend."""
    rig, broker = mqtt_as_session.rig, mqtt_as_session.broker
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        status = scenario.next_status(sub, after=0.0)
    log = "\n".join(rig.bridge.log.lines[-15:])
    assert status is not None, f"the mqtt_as bridge published no status within 15 s; its log:\n{log}"
    assert status["mqtt_backend"] == "mqtt_as", (
        f"the bridge runs the {status['mqtt_backend']!r} MQTT backend, not mqtt_as: mqtt_as is not in its image "
        f"or failed to load (see its log below); check bridge_firmware/{MQTT_AS_MANIFEST} and MQTT_AS_DIR\n{log}")
    return rig


@pytest.fixture
def replay_interval_ms(chip_speed):
    """At the chip's speed, the meter's own pace (see the module's docstring)."""
    return METER_INTERVAL_MS if chip_speed else scenario.REPLAY_INTERVAL_MS


@pytest.fixture
def heap_floor():
    """The lowest free heap the scenarios hold this bridge to. Not the 16 KB of
    the built-in bridge frozen (Deploy.FROZEN.heap_floor): mqtt_as keeps its client,
    its own three tasks and a task per message in flight in the heap, ~2 KB at
    rest and ~4.4 KB at the lowest more than the built-in client (measured:
    15,070 B free at rest, 12,270 B at the lowest; built-in: 17,100 / 16,670 B);
    the floor of a bridge with part of itself in the heap applies."""
    return Deploy.ROMFS.heap_floor, f"the bridge with mqtt_as frozen in, at the chip's {CHIP_FREE_AT_MAIN:,} B free at main.py,"


@pytest.fixture
def heap_drop_max():
    """How far below rest this bridge's heap may fall in a scenario: mqtt_as
    reconnecting holds a new socket, its own tasks and a task per message in
    flight on top of one telegram's values. Measured by the board after
    collections: 15,200 B at rest, 11,040 B at the lowest (broker stalled),
    4,160 B down; 3,520 B after a broker restart, 4,128 B after WiFi loss. Still
    bounded: a bridge that queues telegrams falls by 10 KB and more."""
    return 5 * 1024


def test_the_bridge_runs_mqtt_as_frozen_in_at_the_chips_heap(rig, virtual_rig, subscriber, broker, why):
    """mqtt_as is the backend in use, from the image (nothing but main.py and
    config.json on the flash), at the chip's 35,000 B free at main.py."""
    on_flash = sorted(p.name for p in virtual_rig.flash["bridge"].iterdir())
    assert on_flash == ["config.json", "main.py"], why([f"only main.py and config.json belong on the flash: {on_flash}"])
    started = rig.bridge.expect_line(r"^bridge: started, free (\d+)", timeout=5)
    rig.bridge.expect_line(r"^bridge: mqtt connected to .* \(mqtt_as\)$", timeout=5)
    status = scenario.wait_status(subscriber, why, after=time.monotonic())
    assert status["mqtt_backend"] == "mqtt_as", why([f"status says backend {status['mqtt_backend']!r}"])
    assert status["mqtt_connects"] >= 1 and status["pubacks"] > 0, why([f"no acknowledged publish: {status}"])
    print(f"bridge + mqtt_as frozen, {CHIP_FREE_AT_MAIN} B free at main.py: {started.group(1)} B free after start-up; "
          f"status: {json.dumps({k: status[k] for k in ('heap_free', 'heap_min_free')})}")


def _at_the_meters_pace_only(test, line: str):
    """`test` as collected here, skipped at the chip's speed, where mqtt_as does
    not keep up with its `line` (see the module's docstring). A wrapper: a mark
    on the imported function itself would skip it in its own module too."""
    @functools.wraps(test)
    def scenario_test(*args, **kwargs):
        return test(*args, **kwargs)

    return pytest.mark.skipif(
        "config.getoption('--board-speed') == 'chip'",
        reason=f"at the chip's speed the mqtt_as bridge does not keep up with {line} (it keeps up with the "
               f"SX631's {METER_INTERVAL_MS // 1000} s: the replay test plays at that pace); run at --board-speed "
               "host for this scenario's logic")(scenario_test)


# The replay test and the scenarios, collected here a second time, in this order,
# against this module's rig (the fixtures above override the suite's rig, broker
# and board); their module-scoped fixtures come along and upload to this rig.
sequence = test_network.sequence
sequence_file = test_overflow.sequence_file
test_each_capture_replayed_three_times_matches_oracle = test_replay.test_each_capture_replayed_three_times_matches_oracle
test_stalled_broker_bounded_supersedes_and_recovers = _at_the_meters_pace_only(
    test_overflow.test_stalled_broker_bounded_supersedes_and_recovers, "telegrams back to back")
_EVERY_300_MS = f"a telegram every {test_network.INTERVAL_MS / 1000} s"
test_broker_restart_recovers_without_reboot = _at_the_meters_pace_only(
    test_network.test_broker_restart_recovers_without_reboot, _EVERY_300_MS)
test_broker_down_while_the_bridge_boots = _at_the_meters_pace_only(
    test_network.test_broker_down_while_the_bridge_boots, _EVERY_300_MS)
test_wifi_loss_recovers_without_reboot = _at_the_meters_pace_only(
    test_network.test_wifi_loss_recovers_without_reboot, _EVERY_300_MS)
