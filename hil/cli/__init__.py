"""The `hil` command: run the rig from a terminal.

    hil demo       replay captures through the virtual rig and watch MQTT live
    hil sim        start the virtual rig and print its ports until Ctrl-C
    hil captures   validate, import, anonymise, synthesize, upload captures
    hil capture    record telegrams from a real meter through a USB-UART adapter
    hil boards | flash | deploy | play | monitor   work with real boards
    hil calibrate  time the chip programs on your ESP8266; the virtual boards then keep its time
    hil adapter-check   error rate through the P1 adapter (virtual: from component values)
    hil report     render a test run's report again from its saved data
    hil doctor     can the rig run here? each finding with its fix
    hil zabbix-template | zabbix-check   the Zabbix template, checked through a real zabbix_agent2
"""
from __future__ import annotations

import argparse
import sys

# This is the command table: each command group is a module of its own that
# imports none of the others (tests/host/test_layout.py). Imported here, not at
# the top, so `python -m hil.cli.captures ...` runs a group on its own cleanly.


def main(argv=None) -> int:
    from . import adapter, bench, calibrate, captures, demo, doctor, report, zabbix

    parser = argparse.ArgumentParser(prog="hil", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (demo, captures, bench, calibrate, adapter, report, zabbix, doctor):
        group.add_parsers(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
