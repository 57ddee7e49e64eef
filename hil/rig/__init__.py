"""Rig drivers: boards over their serial ports, and the rig as one object."""
