"""What the bridge does once at power-on, before the application exists.

Banner, boot window (two Ctrl-C keep the REPL), config.json check (problems are
printed and start-up stops at the REPL, no reboot; replidle.py then resets
into the bridge after repl_idle_s unless a user stays), the per-board default
client id. Ctrl-C is off (main.py turned it off) except inside the boot window:
only there is a 0x03 on UART0 RX taken for a user's. bridge_main imports this module, calls boot() and unloads it (and
config) before it builds the application, and again for load_config() at an
application restart: none of this code holds heap while the bridge runs.
"""

import gc
import time

import machine
import micropython

import config

_CONFIRM_MS = 1000  # the second Ctrl-C that keeps the REPL must come within this

# ESP8266 rst_info reasons, as machine.reset_cause() returns them.
_CAUSES = ("power on", "hardware watchdog", "exception", "software watchdog", "soft restart",
           "deep-sleep wake", "reset pin")


def _boot_window(ms):
    # While the REPL is still on UART0 a Ctrl-C from the PC lands here as
    # KeyboardInterrupt: that is how tools and users get in before the bridge
    # takes the port over. UART0 RX is also the P1 line, and a 0x03 in meter
    # data (noise) is a Ctrl-C too: it takes a second one within _CONFIRM_MS.
    # Ctrl-C is on only for the window (main.py turned it off before the
    # imports), so a 0x03 before or after it is a plain byte, never a
    # KeyboardInterrupt in the banner, the config parse or the imports.
    t0 = time.ticks_ms()
    first = None
    stopped = False
    # What the window says is said inside the try, once Ctrl-C is on: a tool
    # answers a line with its Ctrl-C at once, and a Ctrl-C in the middle of a
    # print must count, not escape (on the virtual board on a busy host it
    # came before the next line of code here).
    say = "bridge: boot window %d ms: press Ctrl-C twice to stay at the REPL" % ms
    if ms > 0:
        micropython.kbd_intr(3)
    while True:
        try:
            if say is not None:
                line, say = say, None
                print(line)
            if stopped:
                # Off again, a pending 0x03 raised by the sleep inside the try:
                # a third one (noise, a tool's own Ctrl-C) must not cut short
                # what follows, the REPL's reset timer above all (replidle.py).
                micropython.kbd_intr(-1)
                time.sleep_ms(1)
                print("bridge: start-up stopped by Ctrl-C; REPL left attached, bridge not running")
                return False
            now = time.ticks_ms()
            if first is not None and time.ticks_diff(now, first) > _CONFIRM_MS:
                first = None
                print("bridge: a single Ctrl-C in the boot window (P1 noise?); starting")
            if first is None and time.ticks_diff(now, t0) >= ms:
                micropython.kbd_intr(-1)
                # A 0x03 that came in just before the line above is still
                # pending: the sleep raises it here, inside the try, where it
                # counts as a first Ctrl-C (then the window ends after
                # _CONFIRM_MS, as for any single one), not in the code after.
                time.sleep_ms(1)
                return True
            time.sleep_ms(20)
        except KeyboardInterrupt:
            if first is not None:
                stopped = True
            else:
                first = time.ticks_ms()
                say = "bridge: Ctrl-C in the boot window: again within %d ms to stay at the REPL" % _CONFIRM_MS


def load_config():
    """config.json validated, with the board's default client id: (config or
    None, problems). Also what bridge_main calls at every application restart."""
    cfg, problems = config.load("config.json")
    if cfg is not None and not problems and cfg["mqtt"]["client_id"] is None:
        # One per board: two bridges with one id would throw each other off the broker.
        cfg["mqtt"]["client_id"] = "p1bridge-" + "".join("%02x" % b for b in machine.unique_id())
    return cfg, problems


def boot(version, cause):
    """Banner, boot window, config check. Returns the validated config, or None
    when start-up stops at the REPL (Ctrl-C twice, or config problems)."""
    print("bridge: p1 -> mqtt bridge %s, reset cause %d (%s), free %d"
          % (version, cause, _CAUSES[cause] if 0 <= cause < len(_CAUSES) else "?", gc.mem_free()))
    cfg, problems = load_config()
    window = config.DEFAULTS["boot_window_ms"]
    if cfg is not None and isinstance(cfg["boot_window_ms"], int) and 0 <= cfg["boot_window_ms"] <= 60000:
        window = cfg["boot_window_ms"]
    if not _boot_window(window):
        return None
    if problems:
        for p in problems:
            print("bridge: config problem: " + p)
        # Not Ctrl-D: on the chip a soft reset leaves the REPL's armed timer armed (replidle.py).
        print("bridge: not started; fix config.json, then machine.reset()")
        return None
    return cfg
