# Minimal stand-in for the ESP8266 `machine` module, for main.py boot-flow tests
# only (the rig's real HAL lives in hil/sim/hal). Records what main.py did.
import sys

calls = []


def reset_cause():
    return 0


def unique_id():
    return b"\x01\x02\x03\x04"


class UART:
    def __init__(self, id, baudrate=115200, rxbuf=16):
        calls.append(("UART", id, baudrate, rxbuf))
        # Exit here: the boot-flow test only checks what happens before the loop.
        print("fake: UART(%d, baudrate=%d, rxbuf=%d)" % (id, baudrate, rxbuf))
        sys.exit(3)
