"""Seed-style P1 -> MQTT bridge for the ESP8266 (MicroPython, mqtt_as).

The rig's reference for a bridge built the way users' seeds are: readline + re
per line, a 100-slot queue of telegrams between the reader and the publisher,
mqtt_as (Peter Hinch) as the MQTT client, no CRC check, no status topic. Kept
to prove that the overflow and network scenarios catch such a design. While
the broker or the WiFi is away the queue grows: what it held is published
late, or the heap runs out first (MemoryError, and the catch-all resets the
board). Not a design to copy.

config.json (the seed's own flat keys):
  {"ssid": ..., "wifi_pw": ..., "server": ..., "port": 1883,
   "user": ..., "password": ..., "topic": "p1"}
Every value goes to <topic>/<name>, the number as the telegram has it.
"""

import asyncio
import gc
import json
import os
import re
import sys

import machine
from mqtt_as import MQTTClient, config

# OBIS code -> topic name: the names the seed's consumers read.
NAMES = {
    "0-0:17.0.0": "power_limiter_limit",
    "1-0:1.8.0": "positive_energy_total",
    "1-0:1.8.1": "positive_energy_tariff_1",
    "1-0:1.8.2": "positive_energy_tariff_2",
    "1-0:1.8.3": "positive_energy_tariff_3",
    "1-0:1.8.4": "positive_energy_tariff_4",
    "1-0:2.8.0": "negative_energy_total",
    "1-0:2.8.1": "negative_energy_tariff_1",
    "1-0:2.8.2": "negative_energy_tariff_2",
    "1-0:2.8.3": "negative_energy_tariff_3",
    "1-0:2.8.4": "negative_energy_tariff_4",
    "1-0:3.8.0": "positive_reactive_energy_total",
    "1-0:4.8.0": "negative_reactive_energy_total",
    "1-0:5.8.0": "reactive_energy_total_Q1",
    "1-0:6.8.0": "reactive_energy_total_Q2",
    "1-0:7.8.0": "reactive_energy_total_Q3",
    "1-0:8.8.0": "reactive_energy_total_Q4",
    "1-0:15.8.0": "absolute_active_energy_total",
    "1-0:32.7.0": "instantaneous_voltage_in_phase_L1",
    "1-0:52.7.0": "instantaneous_voltage_in_phase_L2",
    "1-0:72.7.0": "instantaneous_voltage_in_phase_L3",
    "1-0:31.7.0": "instantaneous_current_in_phase_L1",
    "1-0:51.7.0": "instantaneous_current_in_phase_L2",
    "1-0:71.7.0": "instantaneous_current_in_phase_L3",
    "1-0:13.7.0": "instantaneous_power_factor",
    "1-0:33.7.0": "instantaneous_power_factor_in_phase_L1",
    "1-0:53.7.0": "instantaneous_power_factor_in_phase_L2",
    "1-0:73.7.0": "instantaneous_power_factor_in_phase_L3",
    "1-0:14.7.0": "frequency",
    "1-0:1.7.0": "positive_active_instantaneous_power",
    "1-0:2.7.0": "negative_active_instantaneous_power",
    "1-0:5.7.0": "reactive_power_instantaneous_Q1",
    "1-0:6.7.0": "reactive_power_instantaneous_Q2",
    "1-0:7.7.0": "reactive_power_instantaneous_Q3",
    "1-0:8.7.0": "reactive_power_instantaneous_Q4",
}

# A-B:C.D.E(value*unit): group 1 the OBIS code, group 2 the value without its unit.
LINE = re.compile(rb"(\d+-\d+:\d+\.\d+\.\d+)\(([^*)]*)")
HEAD = 64  # MicroPython's re recurses per byte: a 1 KB line of 0xFF would exceed its recursion limit


class Queue:
    # 100 telegrams, then put() raises IndexError("queue full"), as a seed's
    # fixed-size queue does: the reader stops rather than drop a telegram.
    def __init__(self, size=100):
        self.items = []
        self.size = size
        self.ready = asyncio.Event()

    def put(self, item):
        if len(self.items) >= self.size:
            raise IndexError("queue full")
        self.items.append(item)
        self.ready.set()

    async def get(self):
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.pop(0)


async def reader(uart, queue):
    stream = asyncio.StreamReader(uart)
    values = None
    while True:
        line = await stream.readline()
        if line.startswith(b"/"):
            values = []
        elif values is None:
            continue  # joined in the middle of a telegram
        elif line.startswith(b"!"):
            queue.put(values)
            values = None
        else:
            m = LINE.match(line[:HEAD])
            if m:
                name = NAMES.get(m.group(1).decode())
                if name:
                    values.append((name, m.group(2)))


async def publisher(client, queue, topic):
    while True:
        try:
            await client.connect()
            break
        except OSError as e:
            print("mqtt connect failed:", e)
            await asyncio.sleep(5)
    print("mqtt connected")
    while True:
        values = await queue.get()
        for name, value in values:
            await client.publish(topic + "/" + name, value, qos=0)


async def main(cfg):
    uart = machine.UART(0, 115200, rxbuf=1024)
    queue = Queue(100)

    config["server"] = cfg["server"]
    config["port"] = cfg["port"]
    config["user"] = cfg["user"]
    config["password"] = cfg["password"]
    config["ssid"] = cfg["ssid"]
    config["wifi_pw"] = cfg["wifi_pw"]
    config["keepalive"] = 60
    config["clean"] = True
    client = MQTTClient(config)

    # The meter is read from the start; telegrams wait in the queue for the broker.
    await asyncio.gather(reader(uart, queue), publisher(client, queue, cfg["topic"]))


def run():
    with open("config.json") as f:
        cfg = json.load(f)
    gc.collect()
    print("free:", gc.mem_free())
    os.dupterm(None, 1)  # UART0 RX is the P1 line from here on, not the REPL
    try:
        asyncio.run(main(cfg))
    except Exception as e:
        print("fatal:", e)
        sys.print_exception(e)
        machine.reset()
