"""The bridge with its broker given by name survives DNS trouble on the virtual
ESP8266, whose getaddrinfo blocks as the chip's does (tests/sim/test_dns.py):

- the name cannot be resolved when the bridge boots (the DNS server does not
  answer): the board must not reset (on the chip a blocking lookup outlasts the
  watchdog) and must publish once DNS answers again;
- the broker moves to a new address: the bridge finds it without a power cycle.

Judged from outside: the rig's DNS server, the board's resets, the broker's
log and the values at a subscriber.
"""
from __future__ import annotations

import time

import pytest

from hil.rig.deploy import DEFAULT as DEFAULT_DEPLOY
from hil.rig.rig import CLIENT_ID
from hil.rig.session import RigSpec, open_rig
from hil.sim.model import board_model
from hil.sim.clock import UNTIMED_SPEED
from test_bridge_frozen import replay_one_capture

MODEL = board_model()
pytestmark = pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its watchdog never expires")

NAME = "mqtt.home.lan"
DEPLOY = MODEL.takes(DEFAULT_DEPLOY)
LOOKUP_S = 7  # esp-open-lwip gives up a name 6 to 7 s after the query (hil/sim/hal/socket.py)


@pytest.fixture
def named(tmp_path):
    """A virtual rig whose bridge knows its broker only by NAME, which the rig's DNS
    server answers with the broker relay's address."""
    with open_rig(RigSpec(workdir=tmp_path, board_speed=UNTIMED_SPEED)) as session:
        rig, sim = session.rig, session.sim
        sim.set_dns(NAME, "answer", "127.0.0.1")
        config = rig.bridge_config()
        config["mqtt"]["host"] = NAME
        rig.deploy_bridge(config=config, deploy=DEPLOY)
        assert sim.dns_queries(NAME), "the bridge reached the broker without asking DNS for its name"
        yield session


def _lowest_heap(sim, since: float) -> int:
    """The bridge's lowest free heap after a collection since `since`, as its board reported it;
    it must stay above the deployment's floor, DNS lookups and all."""
    lows = [low for _t, _free, low, _n in sim.heap_samples("bridge", since) if low >= 0]
    assert lows, "the bridge's board reported no heap"
    floor = DEPLOY.heap_floor
    assert min(lows) >= floor, f"lowest free heap {min(lows)} B, under the {floor} B floor of {DEPLOY.value}"
    print(f"lowest free heap {min(lows)} B ({DEPLOY.value})")
    return min(lows)


def _log(rig, since: int) -> str:
    return "\n".join(str(line) for line in rig.bridge.log.lines[since:])


def _wait_queries(sim, since: float, span_s: float, timeout: float) -> list[float]:
    """The DNS queries for NAME after `since`, once they span span_s seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asked = [t for t in sim.dns_queries(NAME) if t > since]
        if asked and asked[-1] - asked[0] >= span_s:
            return asked
        time.sleep(0.2)
    raise AssertionError(f"the bridge did not keep asking DNS for {NAME} over {span_s} s: {asked}")


def test_a_name_that_does_not_resolve_at_boot_neither_resets_the_board_nor_stops_it_for_good(named):
    rig, broker, sim = named.rig, named.broker, named.sim
    sim.set_dns(NAME, "drop")
    resets = len(sim.board("bridge").reset_causes)
    since_log, t0 = rig.bridge.mark(), time.monotonic()
    rig.reset_bridge()  # EN: the bridge must resolve the name again at boot
    # Two of lwIP's lookups and more than the watchdog's 3.2 s, twice over.
    asked = _wait_queries(sim, t0, 2 * LOOKUP_S, timeout=60)
    causes = sim.board("bridge").reset_causes[resets:]
    assert causes == [6], (f"resets while DNS did not answer (causes {causes}; 3 is the watchdog); "
                           f"its log:\n{_log(rig, since_log)[-3000:]}")
    mark = broker.log_mark()
    sim.set_dns(NAME, "answer", "127.0.0.1")
    assert broker.wait_client(CLIENT_ID, mark, timeout=20), (
        f"no MQTT connection within 20 s of DNS answering again ({len(asked)} queries before); "
        f"its log:\n{_log(rig, since_log)[-3000:]}")
    replay_one_capture(rig, broker)
    assert sim.board("bridge").reset_causes[resets:] == [6]
    _lowest_heap(sim, t0)


def test_a_broker_that_moved_is_found_without_a_power_cycle(named):
    rig, broker, sim = named.rig, named.broker, named.sim
    resets = len(sim.board("bridge").reset_causes)
    since_log, mark, t0 = rig.bridge.mark(), broker.log_mark(), time.monotonic()
    sim.set_dns(NAME, "answer", "127.0.0.2")
    sim.move_broker("127.0.0.2")  # nothing listens at the old address any more
    assert broker.wait_client(CLIENT_ID, mark, timeout=40), (
        f"the bridge did not find the broker at its new address within 40 s; its log:\n"
        f"{_log(rig, since_log)[-3000:]}")
    replay_one_capture(rig, broker)
    assert len(sim.board("bridge").reset_causes) == resets
    _lowest_heap(sim, t0)
