"""The bench's rig config: WiFi, broker and board bindings for real boards.

A JSON file local to the user's bench (never committed; `rig.example.json`
documents it), read by the `hil` commands and by pytest's --rig-config.
"""
from __future__ import annotations

import json
from pathlib import Path


class RigConfigError(Exception):
    """The rig config is missing, unreadable or malformed; the message says which."""


def load_rig_config(path: str | None) -> dict:
    if not path:
        return {}
    try:
        cfg = json.loads(Path(path).read_text())
    except OSError as e:
        raise RigConfigError(f"cannot read the rig config {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise RigConfigError(f"the rig config {path} is not valid JSON: {e}") from e
    if not isinstance(cfg, dict):
        raise RigConfigError(f"the rig config {path} must hold a JSON object (see rig.example.json)")
    return cfg
