# The board runs main.py from its filesystem; the bridge itself lives in
# bridge_main (an .mpy file, or frozen into the firmware image), so its code is
# never compiled on the board.
#
# UART0 RX is the P1 line and the REPL's input at once: until the bridge
# detaches the REPL, a 0x03 from the meter is a Ctrl-C. So Ctrl-C is off from
# here on (micropython.kbd_intr(-1): the UART then hands 0x03 over as a plain
# byte) and only the boot window turns it on. A KeyboardInterrupt already
# pending when main.py starts (a 0x03 while the board compiled this file) is
# caught and the import tried again: nothing before the window may leave the
# board at the REPL.
while True:
    try:
        import micropython

        micropython.kbd_intr(-1)
        import bridge_main

        break
    except KeyboardInterrupt:
        pass
bridge_main.run()
