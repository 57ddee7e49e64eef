"""Boot ROM of a virtual board: what the ESP8266 port's C start-up does.

Run by the virtual board as `micropython -i _simboot.py` in the board's flash
directory: sets sys.path as on the chip, runs boot.py, then main.py unless the
board came up from a soft reset in the raw REPL; the REPL follows (-i).
"""
import sys


def _run(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    try:
        exec(compile(src, name, "exec"), globals())
    except KeyboardInterrupt:
        print("KeyboardInterrupt:", name)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: B902 - the board prints any error and goes on to the REPL
        sys.print_exception(e)


def _boot():
    from uos import getenv
    hal = sys.path[0]
    sys.path[:] = ["", ".frozen", "lib", hal]
    _run("boot.py")
    if getenv("HIL_SIM_RUN_MAIN") != "0":
        _run("main.py")


_boot()
del _boot, _run
