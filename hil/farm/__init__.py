"""Many rigs through labgrid: places, exporters and the coordinator (docs/farm.md)."""
