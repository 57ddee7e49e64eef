"""`python -m hil.sim DIR`: run the virtual rig until SIGTERM or Ctrl-C.

Prints one JSON line with the boards' ports and the control socket once the
rig is up, so a parent process can wait for it without sleeping.
"""
import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from .clock import DEFAULT_SPEED, SPEEDS
from .model import CHIP_FREE_AT_MAIN
from .server import VirtualRigServer


async def _main(args) -> None:
    rig = VirtualRigServer(Path(args.workdir), bridge_free_at_main=args.bridge_free_at_main,
                           bridge_image=args.bridge_image, board_speed=args.board_speed)
    await rig.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"ports": rig.ports, "control": rig.control_path,
                      "flash": {n: str(b.flash_dir) for n, b in rig.boards.items()}}), flush=True)
    try:
        await stop.wait()
    finally:
        await rig.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hil.sim", description=__doc__)
    parser.add_argument("workdir", help="directory for the boards' flash and the rig's sockets")
    parser.add_argument("--bridge-free-at-main", type=int, default=CHIP_FREE_AT_MAIN, metavar="BYTES",
                        help="free heap the bridge board shows at main.py (default %(default)s, the chip's; "
                             "the emulator always gets the chip's figure)")
    parser.add_argument("--bridge-image", type=Path, metavar="MANIFEST",
                        help="run the bridge board on an image with this firmware manifest frozen in")
    parser.add_argument("--board-speed", choices=SPEEDS, default=DEFAULT_SPEED,
                        help="chip: the boards compute as slowly as an 80 MHz ESP8266; host: as fast as "
                             "this machine (default %(default)s; hil/sim/clock.py)")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
