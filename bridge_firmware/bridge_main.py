"""The bridge on the board: the only module touching hardware (main.py runs it).

Boot: startup.boot() (banner, boot window, config.json check; then unloaded) ->
UART + WiFi -> the watchdog -> the bridge built -> detach the REPL from UART0 ->
asyncio tasks under a global exception handler that restarts the application
instead of the board.
Whatever ends run() leaves the board at the REPL, where replidle.py resets it
into the bridge after repl_idle_s unless a user types stay().

The watchdog (machine.WDT: the ESP8266 resets about 3.2 s after the last feed)
is fed by the WiFi task, once a second, so a task that blocks the event loop
resets the board; the same task runs the bridge's liveness check (config
liveness_s), which resets it when no telegram or no publish gets through. An application that crashes _CRASHES_BEFORE_RESET times
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

_RESTART_DELAY_MS = 5000
_CRASHES_BEFORE_RESET = 5
_STABLE_MS = 60000  # an application that ran this long before it crashed starts a new count
_FEED_MS = 1000
_WIFI_RETRY_MS = 30000
_UART_BAUD = 115200


async def _wifi(wlan, ssid, password, log, app, wdt):
    # The ESP8266 reconnects on its own; this task logs transitions, counts
    # reconnections for the status topic and, unless the MQTT backend manages
    # WiFi itself (mqtt_as), kicks a fresh connect() if the link stays down, so
    # an AP reboot never needs a reset. It also feeds the watchdog: it runs
    # only while the event loop does. And it runs the bridge's liveness check,
    # which the watchdog cannot make: this task only ever sleeps, where one that
    # publishes (health) can be the one stuck in the client.
    was = None
    down_since = time.ticks_ms()
    kick = not app.client.manages_wifi
    while True:
        wdt.feed()
        if app.liveness():
            machine.reset()
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


async def _app(box, uart, wlan, log, cause, wdt):
    cfg = box.pop()
    app = bridge.from_config(cfg, log, cause)
    # from_config may have fallen back from mqtt_as to the built-in client:
    # the next start must know (config.json is read again then).
    box.append(cfg["mqtt"]["backend"])
    w = cfg["wifi"]
    ssid = w["ssid"]
    password = w["password"]
    cfg = w = None  # ~1 KB of dicts the running bridge does not need
    gc.collect()
    log("started, free %d, %s reader" % (gc.mem_free(), "native" if bridge.NATIVE else "portable"))
    # Only now, with the bridge built and its reader the next task to run: the
    # line fills the uart_rxbuf ring from here (1,024 B is 89 ms at 115200
    # baud), and building the bridge takes longer than that at the chip's
    # speed. After a restart the REPL is detached already; both are no-ops then.
    print("bridge: config ok; detaching REPL from UART0, logging there as 'bridge: ...'")
    os.dupterm(None, 1)  # from here on UART0 RX carries P1 data, not REPL input
    await app.run(uart, _wifi(wlan, ssid, password, log, app, wdt))


def _unload(*names):
    # Modules used once: drop them so the GC reclaims their code.
    for name in names:
        sys.modules.pop(name, None)
    gc.collect()


def _reload_config(backend, log):
    # config.json again, for an application restart (it was valid at boot).
    import startup

    cfg, problems = startup.load_config()
    del startup
    _unload("startup", "config")
    if problems:
        log("config.json changed since boot and has problems; resetting the board to report them")
        machine.reset()
    cfg["mqtt"]["backend"] = backend
    return cfg


def run():
    try:
        _run()
    finally:
        # Start-up stopped, or the bridge ended: the REPL it leaves the board at
        # has the P1 line for its input on the chip, and no user may ever come.
        # A wrapper, not a try in _run(): that would make _run's frame, which
        # the running bridge holds, one exception level deeper (16 B more).
        import replidle

        replidle.arm()


def _run():
    cause = machine.reset_cause()
    import startup

    cfg = startup.boot(bridge.VERSION, cause)
    del startup
    _unload("startup", "config")  # config's code alone is ~3 KB
    if cfg is None:
        return
    # 160 MHz by default: at 80 MHz the chip takes ~0.5 s after a telegram's
    # end to publish its 44 values (QoS 1) and loses bytes of back-to-back
    # telegrams; at 160 it keeps up with the line (bridge_firmware/README.md).
    machine.freq(cfg["cpu_mhz"] * 1000000)
    # The ring is set up now, but P1 bytes reach it only once _app detaches
    # the REPL, when the reader is about to run (until then they go to the
    # REPL's input, and Ctrl-C is off).
    uart = machine.UART(0, baudrate=_UART_BAUD, rxbuf=cfg["uart_rxbuf"])
    log = bridge.make_log(uart)
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect(cfg["wifi"]["ssid"], cfg["wifi"]["password"])
    wdt = machine.WDT()  # from here on the board resets if the event loop stops
    crashes = 0
    backend = cfg["mqtt"]["backend"]
    while True:
        started = time.ticks_ms()
        failure = None
        box = []
        try:
            if cfg is None:  # a restart: reading it can fail like the application itself
                cfg = _reload_config(backend, log)
            box.append(cfg)  # _app takes it out, so that nothing here keeps it
            cfg = None
            asyncio.run(_app(box, uart, wlan, log, cause, wdt))
        except KeyboardInterrupt:
            log("stopped by KeyboardInterrupt")
            return
        except Exception as e:  # noqa: BLE001 - global handler: bad input or the network never reboot the board
            failure = e  # nothing allocated yet: a MemoryError's heap is still full of the old tasks
        asyncio.new_event_loop()  # drops the old loop and its tasks
        if box and isinstance(box[-1], str):  # what _app left: the backend it used
            backend = box.pop()
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
