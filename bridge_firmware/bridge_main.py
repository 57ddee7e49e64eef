"""The bridge on the board: the only module touching hardware (main.py runs it).

Boot: banner -> boot window (two Ctrl-C keep the REPL) -> config.json check (problems
are printed and start-up stops at the REPL, no reboot) -> detach the REPL from
UART0 -> UART + WiFi -> the watchdog -> asyncio tasks under a global exception
handler that restarts the application instead of the board.

The watchdog (machine.WDT: the ESP8266 resets about 3.2 s after the last feed)
is fed by the WiFi task, once a second, so a task that blocks the event loop
resets the board. An application that crashes _CRASHES_BEFORE_RESET times
in a row, each within _STABLE_MS of its start, resets the board too: a restart
loop ends.
"""

import asyncio
import gc
import sys
import time

import machine
import network
import os

import bridge
import config

_RESTART_DELAY_MS = 5000
_CRASHES_BEFORE_RESET = 5
_STABLE_MS = 60000  # an application that ran this long before it crashed starts a new count
_FEED_MS = 1000
_CONFIRM_MS = 1000  # the second Ctrl-C that keeps the REPL must come within this
_WIFI_RETRY_MS = 30000
_UART_BAUD = 115200


def _boot_window(ms):
    # While the REPL is still on UART0 a Ctrl-C from the PC lands here as
    # KeyboardInterrupt: that is how tools and users get in before the bridge
    # takes the port over. UART0 RX is also the P1 line, and a 0x03 in meter
    # data (noise) is a Ctrl-C too: it takes a second one within _CONFIRM_MS.
    print("bridge: boot window %d ms: press Ctrl-C twice to stay at the REPL" % ms)
    t0 = time.ticks_ms()
    first = None
    while True:
        try:
            now = time.ticks_ms()
            if first is not None and time.ticks_diff(now, first) > _CONFIRM_MS:
                print("bridge: a single Ctrl-C in the boot window (P1 noise?); starting")
                first = None
            if first is None and time.ticks_diff(now, t0) >= ms:
                return True
            time.sleep_ms(20)
        except KeyboardInterrupt:
            if first is not None:
                print("bridge: start-up stopped by Ctrl-C; REPL left attached, bridge not running")
                return False
            first = time.ticks_ms()
            print("bridge: Ctrl-C in the boot window: again within %d ms to stay at the REPL" % _CONFIRM_MS)


async def _wifi(wlan, ssid, password, log, app, wdt):
    # The ESP8266 reconnects on its own; this task logs transitions, counts
    # reconnections for the status topic and, unless the MQTT backend manages
    # WiFi itself (mqtt_as), kicks a fresh connect() if the link stays down, so
    # an AP reboot never needs a reset. It also feeds the watchdog: it runs
    # only while the event loop does.
    was = None
    down_since = time.ticks_ms()
    kick = not app.client.manages_wifi
    while True:
        wdt.feed()
        up = wlan.isconnected()
        if up != was:
            log("wifi %s status=%d" % ("connected" if up else "down", wlan.status()))
            if up and was is False:
                app.wifi_reconnects += 1
            was = up
            down_since = time.ticks_ms()
        elif kick and not up and time.ticks_diff(time.ticks_ms(), down_since) > _WIFI_RETRY_MS:
            log("wifi reconnecting")
            wlan.connect(ssid, password)
            down_since = time.ticks_ms()
        await asyncio.sleep_ms(_FEED_MS)


def _sleep_fed(wdt, ms):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < ms:
        wdt.feed()
        time.sleep_ms(_FEED_MS)


async def _app(cfg, uart, wlan, log, cause, wdt):
    gc.collect()
    app = bridge.from_config(cfg, log, cause)
    gc.collect()
    log("started, free %d, %s reader" % (gc.mem_free(), "native" if bridge.NATIVE else "portable"))
    w = cfg["wifi"]
    await asyncio.gather(_wifi(wlan, w["ssid"], w["password"], log, app, wdt), app.run(uart))


# ESP8266 rst_info reasons, as machine.reset_cause() returns them.
_CAUSES = ("power on", "hardware watchdog", "exception", "software watchdog", "soft restart",
           "deep-sleep wake", "reset pin")


def _unload(name):
    # A module imported once at boot: drop it so the GC can reclaim its code.
    g = globals()
    if name in g:
        del g[name]
    sys.modules.pop(name, None)
    gc.collect()


def run():
    cause = machine.reset_cause()
    print("bridge: p1 -> mqtt bridge %s, reset cause %d (%s), free %d"
          % (bridge.VERSION, cause, _CAUSES[cause] if 0 <= cause < len(_CAUSES) else "?", gc.mem_free()))
    cfg, problems = config.load("config.json")
    window = config.DEFAULTS["boot_window_ms"]
    if cfg is not None and isinstance(cfg["boot_window_ms"], int) and 0 <= cfg["boot_window_ms"] <= 60000:
        window = cfg["boot_window_ms"]
    if not _boot_window(window):
        return
    if problems:
        for p in problems:
            print("bridge: config problem: " + p)
        print("bridge: not started; fix config.json and press Ctrl-D")
        return
    _unload("config")  # validated once; its code is ~3 KB of heap the bridge needs
    if cfg["mqtt"]["client_id"] is None:
        # One per board: two bridges with one id would throw each other off the broker.
        cfg["mqtt"]["client_id"] = "p1bridge-" + "".join("%02x" % b for b in machine.unique_id())
    print("bridge: config ok; detaching REPL from UART0, logging there as 'bridge: ...'")
    os.dupterm(None, 1)  # from here on UART0 RX carries P1 data, not REPL input
    uart = machine.UART(0, baudrate=_UART_BAUD, rxbuf=cfg["uart_rxbuf"])
    log = bridge.make_log(uart)
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect(cfg["wifi"]["ssid"], cfg["wifi"]["password"])
    wdt = machine.WDT()  # from here on the board resets if the event loop stops
    crashes = 0
    while True:
        started = time.ticks_ms()
        failure = None
        try:
            asyncio.run(_app(cfg, uart, wlan, log, cause, wdt))
        except KeyboardInterrupt:
            log("stopped by KeyboardInterrupt")
            return
        except Exception as e:  # noqa: BLE001 - global handler: bad input or the network never reboot the board
            failure = e  # nothing allocated yet: a MemoryError's heap is still full of the old tasks
        asyncio.new_event_loop()  # drops the old loop and its tasks
        gc.collect()
        if failure is not None:
            ran = time.ticks_diff(time.ticks_ms(), started)
            crashes = crashes + 1 if ran < _STABLE_MS else 1
            if crashes >= _CRASHES_BEFORE_RESET:
                log("application crashed %d times in a row, last: %s %s; resetting the board"
                    % (crashes, type(failure).__name__, failure))
                machine.reset()
            log("application crashed: %s %s; restarting in %d ms" % (type(failure).__name__, failure,
                                                                       _RESTART_DELAY_MS))
            failure = None
        gc.collect()
        _sleep_fed(wdt, _RESTART_DELAY_MS)
