"""The bridge at the chip's speed: CPU per telegram by part, latency, the UART ring.

    .venv/bin/python bench/bridge_chip_time.py                  # 6 telegrams at the meter's 10 s cadence
    .venv/bin/python bench/bridge_chip_time.py --interval-ms 1000 --telegrams 10
    MQTT_AS_DIR=../shared/mqtt_as .venv/bin/python bench/bridge_chip_time.py --backend mqtt_as

Brings up the virtual rig with both boards at --board-speed chip (an 80 MHz
ESP8266's time, hil/sim/clock.py), deploys the bridge as the suite does (with --backend mqtt_as: the image with
mqtt_as frozen in, as hil/tests/test_mqtt_as.py deploys it), plays
the SX631 capture and prints:

- the bridge's computing per telegram in the chip's milliseconds, split by part
  (reading and parsing, publishing, status, the event loop, the rest), from the
  board's own account of where its time went (the virtual ESP8266 attributes
  each stretch of computing to the function that ran it);
- end of telegram on the line -> last value at an MQTT subscriber;
- bytes the bridge's UART0 ring dropped (it must be 0 at the meter's cadence),
  the longest waits between its reads while bytes waited, and its longest
  stretches of computing without a wait, by function (what fills the ring).

A figure, not a test: it never fails on a number.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil.oracle.expected import expected_sequence  # noqa: E402
from hil.p1.captures import sx631  # noqa: E402
from hil.net.subscriber import Subscriber  # noqa: E402
from hil import mqtt_as_source  # noqa: E402
from hil.shipped import BRIDGE_FIRMWARE  # noqa: E402
from hil.rig.session import BridgeSpec, RigSpec, open_rig  # noqa: E402
from hil.sim.chip_time import PARTS, by_part, longest, part_of, spent  # noqa: E402
from hil.sim.clock import chip_figures  # noqa: E402
from hil.sim.line import telegram_spans  # noqa: E402

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--telegrams", type=int, default=6, help="telegrams to play (default %(default)s)")
    ap.add_argument("--interval-ms", type=int, default=10000,
                    help="time between telegram starts (default %(default)s: the meter's cadence)")
    ap.add_argument("--top", type=int, default=12, help="functions to list (default %(default)s)")
    ap.add_argument("--backend", choices=("builtin", "mqtt_as"), default="builtin",
                    help="the bridge's MQTT client (default %(default)s; mqtt_as needs MQTT_AS_DIR)")
    args = ap.parse_args(argv)

    capture = sx631()
    telegram = expected_sequence(capture.data, "all")[0]
    spec = RigSpec(base_topic="p1bench", board_speed="chip", bridge=bridge_spec(args.backend))
    print(f"bridge at the chip's speed: {args.telegrams} x {capture.file} every {args.interval_ms} ms; "
          f"chip figures: {chip_figures().source}", flush=True)
    with open_rig(spec, progress=lambda m: print(f"  {m}", flush=True)) as session:
        rig, broker, sim = session.rig, session.broker, session.sim
        with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
            remote = rig.upload_capture(capture.file, capture.data)
            time.sleep(2.5)  # the profile file is rewritten about once a second: take a fresh one
            before = sim.clock_profile("bridge")
            line_before = sim.line()
            overflow_before, waiting_before = line_before.rx_overflow, line_before.rx_overflow_waiting
            sub.clear()
            played_at, played_unix = time.monotonic(), time.time()
            sent = rig.play([remote], args.interval_ms, args.telegrams,
                            on_sent=lambda t: print(f"  telegram {t.seq} sent", flush=True))
            # Wait for the last telegram's values (or give up after 30 s of chip time).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                by_name = sub.values()
                if all(len(by_name.get(n, [])) >= len(sent) for n in telegram):
                    break
                time.sleep(0.2)
            time.sleep(2.5)
            after = sim.clock_profile("bridge")
            stats = sim.stats()
            stretches = sim.clock_stretches("bridge", played_unix)
            line, speed = stats.line, stats.host_speed
        by_name = sub.values()
    spans = telegram_spans(line.bursts, [t.nbytes for t in sent]) or []
    latency = []
    for i, (_start, end) in enumerate(spans):
        arrivals = [by_name[n][i].at for n in telegram if len(by_name.get(n, [])) > i]
        if len(arrivals) == len(telegram):
            latency.append(max(arrivals) - end)
    n = max(1, len(sent))
    used = spent(before, after)
    parts = by_part(used)
    total = sum(parts.values())
    print(f"\nthe bridge's computing per telegram at the chip's speed ({len(sent)} telegrams, "
          f"every {args.interval_ms} ms; status every 2 s as the rig configures it)")
    for part in PARTS:
        print(f"  {part:22} {parts[part] / n / 1000:8.0f} ms")
    print(f"  {'total':22} {total / n / 1000:8.0f} ms   (the line takes {capture_line_ms(capture.data):.0f} ms "
          f"per telegram; one started every {args.interval_ms:,} ms; the meter sends one every 10,000 ms)")
    print("\nfunctions that took the most (chip ms per telegram):")
    for (file, function), (chip_us, _h) in sorted(used.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"  {chip_us / n / 1000:8.1f}  {file}:{function}  [{part_of(file, function)}]")
    published = min(len(by_name.get(name, [])) for name in telegram)
    print(f"\ntelegrams sent {len(sent)}, published whole {published}")
    if latency:
        print(f"end of telegram -> last value: median {statistics.median(latency) * 1000:.0f} ms, "
              f"max {max(latency) * 1000:.0f} ms")
    else:
        print("end of telegram -> last value: n/a (no telegram arrived whole)")
    print(f"bytes the bridge's UART0 ring dropped: {line.rx_overflow - overflow_before} "
          f"(the host's load explains {line.rx_overflow_waiting - waiting_before}); "
          f"the most it held: {line.rx_peak} B (its uart_rxbuf: 1,024 B unless config.json says otherwise)")
    unread = line.longest_unread(played_at)
    if unread:
        print("the longest waits between the bridge's UART reads while bytes waited (1,024 B last 89 ms): "
              + ", ".join(f"{s * 1000:.0f} ms" for _at, s in unread))
    if stretches:
        print("its longest stretches of computing without a wait (chip ms, by function):")
        for stretch in longest(stretches):
            print(f"  {stretch.describe()}")
    if speed is not None:
        print(speed.describe())
    return 0


def bridge_spec(backend: str) -> BridgeSpec:
    if backend == "builtin":
        return BridgeSpec()
    found = mqtt_as_source.locate()
    if isinstance(found, mqtt_as_source.Missing):
        raise SystemExit(f"bridge_chip_time: {found.reason}")
    return BridgeSpec.mqtt_as(BRIDGE_FIRMWARE, found)


def capture_line_ms(data: bytes) -> float:
    return len(data) * 10 / 115200 * 1000


if __name__ == "__main__":
    raise SystemExit(main())
