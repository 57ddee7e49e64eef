"""Where the files the package ships live: both firmwares and the capture library.

In a checkout, hil/_shipped/ holds links to the top-level meter_emulator/,
bridge_firmware/ and captures/; in an installed wheel it holds the files
themselves. So the rig finds them through the package, wherever it runs.
"""
from __future__ import annotations

from pathlib import Path

_SHIPPED = Path(__file__).resolve().parent / "_shipped"
BRIDGE_FIRMWARE = (_SHIPPED / "bridge_firmware").resolve()
METER_EMULATOR = (_SHIPPED / "meter_emulator").resolve()
CAPTURES = (_SHIPPED / "captures").resolve()
