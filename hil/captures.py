"""The project's capture library: captures/*.p1 and their index."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CAPTURE_DIR = Path(__file__).resolve().parents[1] / "captures"


@dataclass(frozen=True)
class Capture:
    file: str
    meter: str
    crc: str
    path: Path

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def load_index(directory: Path = CAPTURE_DIR) -> list[Capture]:
    with open(directory / "index.toml", "rb") as f:
        entries = tomllib.load(f)["capture"]
    return [Capture(e["file"], e["meter"], e["crc"], directory / e["file"]) for e in entries]
