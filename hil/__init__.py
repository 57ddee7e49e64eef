"""Host side of the P1 HIL rig: drivers, virtual rig, broker, oracle, CLI and suite."""
