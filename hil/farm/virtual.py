"""The virtual rig as a labgrid exporter (`hil sim --labgrid-exporter`).

Its two boards' ptys are published as RawSerialPort resources, which
labgrid-exporter serves through ser2net (RFC 2217) to whoever acquires the
place. A pty has no DTR/RTS lines, so the bridge is reset the way a lab resets
a board without them: by cycling its power through a switch labgrid drives, a
NetworkPowerPort of labgrid's `rest` model, here a relay the virtual rig
serves over HTTP.

A place for it matches EXPORTER/rig/NetworkSerialPort/{emulator,bridge} and
EXPORTER/rig/NetworkPowerPort/bridge-power, and carries the tag virtual=1
(place_commands gives the labgrid-client calls): the rig then knows the boards
are virtual ESP8266s that reach the broker through the virtual rig's WiFi model.
"""
from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path
from typing import Callable

import yaml

from .client import BRIDGE_POWER, ROLES, VIRTUAL_TAG

GROUP = "rig"  # the resource group of one rig, as in docs/farm/exporter.yaml
SPEED = 115200
RELAY_INDEX = {role: i for i, role in enumerate(ROLES)}  # NetworkPowerPort indexes are numbers


def exporter_config(ports: dict[str, str], relay_url: str) -> str:
    """labgrid-exporter's YAML for the virtual boards' ports (role -> pty path
    or a link to one; the exporter takes device paths under /dev only) and
    the bridge's power relay (PowerRelay.url)."""
    group = {role: {"cls": "RawSerialPort", "port": os.path.realpath(ports[role]), "speed": SPEED}
             for role in ROLES}
    group[BRIDGE_POWER] = {"cls": "NetworkPowerPort", "model": "rest", "host": relay_url,
                           "index": RELAY_INDEX["bridge"]}
    return yaml.safe_dump({GROUP: group}, sort_keys=False)


def write_exporter_config(ports: dict[str, str], relay_url: str, path: Path) -> Path:
    path.write_text(exporter_config(ports, relay_url))
    return path


def place_commands(place: str, exporter: str) -> list[list[str]]:
    """labgrid-client arguments that make `place` the virtual rig exported as `exporter`."""
    cmds = [["-p", place, "create"]]
    cmds += [["-p", place, "add-named-match", f"{exporter}/{GROUP}/NetworkSerialPort/{role}", role] for role in ROLES]
    cmds.append(["-p", place, "add-named-match", f"{exporter}/{GROUP}/NetworkPowerPort/{BRIDGE_POWER}",
                 BRIDGE_POWER])
    cmds.append(["-p", place, "set-tags", f"{VIRTUAL_TAG}=1", "hil=p1bridge"])
    return cmds


class PowerRelay:
    """The boards' power switches as labgrid's `rest` power model drives them:
    GET /relay/INDEX/value answers 1 (on) or 0, PUT with 0 or 1 switches.
    Power coming back restarts the board (`reset(role)`); while off the
    virtual board keeps running (only a cycle is modelled, which is all the
    rig asks of it). Hand-written: labgrid's rest model is three HTTP requests,
    http.server serves them."""

    def __init__(self, reset: Callable[[str], None], host: str = "127.0.0.1"):
        self._reset = reset
        self.on = {role: True for role in ROLES}
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                role = relay._role(self.path)
                self._answer(200 if role else 404, ("1" if relay.on[role] else "0") if role else "no such relay")

            def do_PUT(self):  # noqa: N802
                role = relay._role(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).strip()
                if role is None or body not in (b"0", b"1"):
                    self._answer(400, "PUT 0 or 1 to /relay/INDEX/value")
                    return
                relay.switch(role, body == b"1")
                self._answer(200, body.decode())

            def _answer(self, code: int, text: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the exporter's log says who switched
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}/relay/{{index}}/value"
        self._thread = threading.Thread(target=self._server.serve_forever, name="power-relay", daemon=True)

    def _role(self, path: str) -> str | None:
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "relay" and parts[2] == "value" and parts[1].isdigit():
            index = int(parts[1])
            return ROLES[index] if index < len(ROLES) else None
        return None

    def switch(self, role: str, on: bool) -> None:
        was = self.on[role]
        self.on[role] = on
        if on and not was:
            self._reset(role)

    def __enter__(self) -> "PowerRelay":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
