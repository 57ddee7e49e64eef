"""Seed-style P1 -> MQTT bridge, the board's entry point (run as source).

The rig's reference for a bridge built the way users' seeds are (readline + re,
a 100-slot queue, mqtt_as, no CRC check, no status topic), kept to prove that
the overflow and network scenarios catch such a bridge. Its code is in p1seed
(an .mpy file on the board).
"""
import p1seed

p1seed.run()
