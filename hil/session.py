"""Bring up a whole rig (broker, virtual boards, firmwares) as one context.

Shared by the `hil` command; the pytest fixtures compose the same parts one
fixture each so a test can override any of them.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .broker import Mosquitto
from .rig.board import Board
from .rig.rig import BrokerAccess, Rig
from .sim.process import VirtualRigProcess


@contextlib.contextmanager
def virtual_rig_session(workdir: Path | None = None,
                        progress: Callable[[str], None] = lambda msg: None,
                        bridge_free_at_main: int | None = None,
                        bridge_frozen: Path | None = None, bridge_path_vars: dict[str, Path] | None = None,
                        bridge_mqtt: dict | None = None, bridge_romfs: bool = False,
                        bridge_libs: list[Path] = (), bridge_firmware: Path | None = None,
                        bridge_config: Callable[[Rig], dict] | None = None) -> Iterator[tuple[Rig, Mosquitto]]:
    """Broker + virtual rig + both firmwares deployed; everything stopped on exit.
    bridge_free_at_main: the bridge board's heap (default: hil.sim.model's for the way it is deployed);
    bridge_frozen: the bridge's manifest.py, to run it frozen into the image;
    bridge_path_vars: that manifest's $(NAME)s (e.g. {"MQTT_AS_DIR": dir});
    bridge_mqtt: settings for config.json's "mqtt" section (e.g. {"backend": "mqtt_as"});
    bridge_romfs: the bridge's .mpy files in the board's ROMFS partition, not on its filesystem;
    bridge_libs: directories of extra modules for the bridge (e.g. mqtt_as), deployed as the bridge is;
    bridge_firmware: the bridge's firmware directory (default: this checkout's bridge_firmware/);
    bridge_config: the bridge's config.json from the rig, e.g. lambda rig: rig.bridge_config(...)
    (default: Rig.bridge_config())."""
    with contextlib.ExitStack() as stack:
        workdir = Path(workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="hil-")))
        progress("starting mosquitto")
        broker = stack.enter_context(Mosquitto(workdir=workdir / "broker"))
        if bridge_frozen is not None:
            from .sim.model import frozen_image

            progress(f"building the virtual ESP8266 image with {bridge_frozen} frozen in (cached)")
            frozen_image(bridge_frozen, bridge_path_vars)
        if bridge_free_at_main is None:  # the heap the suite gives this way of deploying (hil.sim.model)
            from .sim.model import bridge_free_at_main as default_free

            bridge_free_at_main = default_free(bridge_frozen is not None or bridge_romfs)
        progress("starting the virtual rig (two MicroPython boards, P1 line)")
        sim = stack.enter_context(VirtualRigProcess(workdir / "sim", bridge_free_at_main=bridge_free_at_main,
                                                      bridge_frozen=bridge_frozen, bridge_path_vars=bridge_path_vars))
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        emulator = Board("emulator", sim.ports["emulator"], logs / "emulator.log").open()
        bridge = Board("bridge", sim.ports["bridge"], logs / "bridge.log").open()
        rig = Rig(emulator, bridge, BrokerAccess(broker.host, broker.port, broker.user, broker.password),
                  base_topic=f"p1demo{os.getpid()}", build_dir=workdir / "build",
                  reset_bridge=lambda: sim.control(cmd="reset", board="bridge"), bridge_mqtt=bridge_mqtt,
                  broker_log=broker)
        stack.callback(rig.close)
        progress("deploying the meter emulator firmware")
        rig.deploy_emulator()
        progress("deploying the bridge firmware and waiting for its MQTT connection")
        rig.deploy_bridge(**({"firmware": Path(bridge_firmware)} if bridge_firmware else {}),
                          config=bridge_config(rig) if bridge_config else None,
                          frozen=bridge_frozen is not None, romfs=bridge_romfs, libs=list(bridge_libs))
        rig.sim = sim
        yield rig, broker
