"""Virtual rig: MicroPython unix port boards joined by a bit-level P1 line model."""
