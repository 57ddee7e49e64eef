"""DNS on the virtual ESP8266 behaves as modlwip over esp-open-lwip does on the chip.

A firmware written as an ESP8266 user writes it resolves names through the
rig's DNS server (hil/sim/dns.py), which the test controls: a name that
resolves, one whose server does not answer, one that moves. What the chip
does is read from the source (hil/sim/hal/socket.py cites it): getaddrinfo
blocks the interpreter until an answer or lwIP's timeout (6 to 7 s with one
server, then OSError(-2)), and once machine.WDT exists nothing feeds the soft
watchdog meanwhile, so such a lookup resets the board.
"""
from __future__ import annotations

import os
import time

import pytest

from hil.sim.model import board_model
from hil.sim.handle import VirtualRig
from hil.sim.clock import UNTIMED_SPEED
from test_virtual_esp8266 import SerialLog

MODEL = board_model()
pytestmark = pytest.mark.skipif(not MODEL.faithful, reason=f"{MODEL.name}: its watchdog never expires")

NAME = "broker.lan"

# The interpreter is blocked while the lookup runs: an asyncio task that ticks
# every 100 ms must not tick meanwhile.
RESOLVE_MAIN = """\
import asyncio, machine, network, socket, time
print("RESET CAUSE", machine.reset_cause())
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("ap", "secret")
wdt = machine.WDT() if %(wdt)r else None
ticks = 0

async def tick():
    global ticks
    while True:
        ticks += 1
        await asyncio.sleep_ms(100)

async def main():
    asyncio.create_task(tick())
    while not sta.isconnected():  # association takes the chip's time (hal/network.py)
        if wdt:
            wdt.feed()
        await asyncio.sleep_ms(100)
    await asyncio.sleep_ms(350)
    for host in %(hosts)r:
        before = ticks
        t0 = time.ticks_ms()
        try:
            ai = socket.getaddrinfo(host, 1883)
            # the unix port's sockaddr bytes (the chip gives a tuple): the address as text
            got = "ADDR %%d %%s" %% (len(ai), ".".join(str(b) for b in socket.sockaddr(ai[0][-1])[1]))
        except OSError as e:
            got = "OSError %%s" %% (e.args[0],)
        print("LOOKUP", host, got, "AFTER", time.ticks_diff(time.ticks_ms(), t0), "MS, TICKS", ticks - before)
        await asyncio.sleep_ms(50)
    print("END")

asyncio.run(main())
"""


@pytest.fixture
def board(tmp_path):
    """run(main, ...) flashes main.py onto a fresh virtual board, hard-resets it
    and returns its serial log; .sim is the rig, for its DNS server."""
    with VirtualRig(tmp_path / "sim", board_speed=UNTIMED_SPEED) as sim:
        logs = []

        def run(hosts: list[str], wdt: bool = False) -> SerialLog:
            (sim.flash["emulator"] / "main.py").write_text(RESOLVE_MAIN % {"hosts": hosts, "wdt": wdt})
            log = SerialLog(os.path.realpath(sim.ports["emulator"]))
            logs.append(log)
            sim.reset("emulator")
            return log

        run.sim = sim
        yield run
        for log in logs:
            log.close()


def test_a_name_resolves_through_the_rigs_server_and_is_asked_again_each_time(board):
    board.sim.set_dns(NAME, "answer", "127.0.0.7")
    log = board([NAME, NAME, "127.0.0.9"])
    log.wait_for(r"END")
    lookups = log.text.count(f"LOOKUP {NAME} ADDR 1 127.0.0.7")
    assert lookups == 2, log.text
    # esp-open-lwip keeps no cache (dns_lookup is commented out): two lookups, two queries.
    assert len(board.sim.dns_queries(NAME)) == 2
    # A numeric address needs no DNS at all.
    assert "LOOKUP 127.0.0.9 ADDR 1 127.0.0.9" in log.text, log.text
    assert not board.sim.dns_queries("127.0.0.9")


def test_a_name_that_moves_resolves_to_its_new_address(board):
    board.sim.set_dns(NAME, "answer", "127.0.0.7")
    log = board([NAME])
    log.wait_for(r"END")
    board.sim.set_dns(NAME, "answer", "127.0.0.8")
    log = board([NAME])
    log.wait_for(r"LOOKUP .*\r\nEND")
    assert f"LOOKUP {NAME} ADDR 1 127.0.0.8" in log.text, log.text


def test_an_unknown_name_fails_at_once_with_lwips_error(board):
    log = board(["nowhere.lan"])  # the server answers NXDOMAIN
    found = log.wait_for(r"LOOKUP nowhere.lan OSError (-?\d+) AFTER (\d+) MS")
    assert found.group(1) == "-2"
    assert int(found.group(2)) < 500


def test_a_server_that_does_not_answer_blocks_the_board_for_lwips_timeout(board):
    board.sim.set_dns(NAME, "drop")
    log = board([NAME])
    found = log.wait_for(r"LOOKUP broker.lan OSError (-?\d+) AFTER (\d+) MS, TICKS (\d+)", timeout=30)
    # modlwip raises the lwIP callback's status, -2; dns_check_entry gives up at the 7th
    # tick of its 1 s timer with one server: 6 to 7 s after the query.
    assert found.group(1) == "-2"
    assert 6000 <= int(found.group(2)) <= 7500, found.group(0)
    assert int(found.group(3)) <= 1, "the interpreter ran tasks during the lookup: " + found.group(0)
    # Sent at once, then at the 1st, 2nd and 4th tick (tmr = retries): four queries.
    sent = board.sim.dns_queries(NAME)
    assert len(sent) == 4, sent
    gaps = [round(b - a, 1) for a, b in zip(sent, sent[1:])]
    assert 1.5 <= sent[-1] - sent[1] <= 3.5 and gaps[1] >= 0.8, gaps


def test_the_watchdog_is_not_fed_during_a_lookup_so_the_board_resets(board):
    # machine.WDT() sets ets_loop_dont_feed_sw_wdt: ets_loop_iter, which
    # getaddrinfo's poll loop runs, no longer feeds the soft watchdog.
    board.sim.set_dns(NAME, "drop")
    log = board([NAME], wdt=True)
    log.wait_for(r"RESET CAUSE 6")
    started = time.monotonic()
    log.wait_for(r"RESET CAUSE 3", timeout=15)  # REASON_SOFT_WDT_RST
    # association (2,964 ms, hal/network.py), 350 ms, then the 3.2 s watchdog
    # during the lookup: the lookup's own 6-7 s never end
    assert time.monotonic() - started < 9.0
    assert f"LOOKUP {NAME}" not in log.text, log.text


def test_queries_are_lost_while_the_wifi_is_down(board):
    board.sim.set_dns(NAME, "answer", "127.0.0.7")
    board.sim.set_wifi("bridge", False)  # the LAN's WiFi: the server hears nothing
    try:
        log = board([NAME])
        found = log.wait_for(r"LOOKUP broker.lan OSError (-?\d+) AFTER (\d+) MS", timeout=30)
    finally:
        board.sim.set_wifi("bridge", True)
    assert found.group(1) == "-2" and int(found.group(2)) >= 6000
    assert not board.sim.dns_queries(NAME)
