"""The bench's rig config: WiFi, broker and board bindings for real boards.

A JSON file local to the user's bench (never committed; `rig.example.json`
documents it), read by the `hil` commands and by pytest's --rig-config.
"""
from __future__ import annotations

from ..jsonfile import read_json


class RigConfigError(Exception):
    """The rig config is missing, unreadable or malformed; the message says which."""


def load_rig_config(path: str | None) -> dict:
    if not path:
        return {}
    cfg = read_json(path, "the rig config", RigConfigError)
    if not isinstance(cfg, dict):
        raise RigConfigError(f"the rig config {path} must hold a JSON object (see rig.example.json)")
    return cfg
