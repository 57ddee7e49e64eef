# The board runs main.py from its filesystem; the bridge itself lives in
# bridge_main (an .mpy file, or frozen into the firmware image), so its code is
# never compiled on the board.
import bridge_main

bridge_main.run()
