# Run main.py's whole flow, the application loop included, on the fake board
# (fakeboard/ on MICROPYPATH): P1 bytes come from a TCP server, WiFi is up, the
# log goes to stdout. The cwd holds config.json.
# usage: run_main_loop.py <p1 host> <p1 port>
import sys

import machine
import network

machine.P1 = (sys.argv[1], int(sys.argv[2]))
network.UP = True
import main  # noqa: E402,F401  (runs the bridge until machine.reset() or a kill)
