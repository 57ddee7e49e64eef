"""The REPL that start-up stopped at: reset into the bridge unless a user stays.

On the chip UART0 RX is the P1 line and the REPL's input at once, so what
leaves a board in the meter cupboard at the REPL (two 0x03 from the meter in the
boot window, a config.json problem, a start-up that failed) would leave it there
for good. arm() starts a one-shot machine.Timer: after repl_idle_s seconds
machine.reset() brings the bridge back (the board resets again from there while
config.json has problems). A user at the prompt types stay(), which no meter
can send: the telegram's lines are OBIS codes, never that call.

The timer's callback runs while the REPL waits for a key: the ESP8266 port's
mp_hal_stdin_rx_chr() (ports/esp8266/esp_mphal.c) loops on mp_hal_delay_us(),
which runs mp_event_handle_nowait() and so the scheduled callbacks
(py/scheduler.c). bridge_main.run() imports this module only once start-up or
the bridge has ended: it costs the running bridge no heap.
"""
import machine

# The SDK's timer lives in this object: the chip's GC must not free it while armed.
_timer = None


def _reset(_t):
    machine.reset()


def stay():
    """Keep the REPL: the board no longer resets into the bridge by itself."""
    global _timer
    if _timer is not None:
        _timer.deinit()  # before any soft reset: the chip's Ctrl-D leaves an armed timer armed
        _timer = None
    print("bridge: staying at the REPL; machine.reset() starts the bridge")


def _seconds():
    # config.json's repl_idle_s where it passed the check, else the default:
    # a config.json with problems is what may have stopped start-up here.
    from config import DEFAULTS, load

    cfg, problems = load("config.json")
    if cfg is None or any(p.startswith("repl_idle_s:") for p in problems):
        return DEFAULTS["repl_idle_s"]
    return cfg["repl_idle_s"]


def arm():
    """Put stay() at the prompt and reset after repl_idle_s (0: never)."""
    global _timer
    import __main__

    __main__.stay = stay  # the REPL's globals are __main__'s, where main.py ran
    seconds = _seconds()
    if not seconds:
        print("bridge: at the REPL (repl_idle_s 0: it stays there)")
        return
    _timer = machine.Timer(-1)
    _timer.init(mode=machine.Timer.ONE_SHOT, period=seconds * 1000, callback=_reset)
    print("bridge: at the REPL: the board resets into the bridge in %d s; stay() keeps the REPL" % seconds)
