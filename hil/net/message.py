"""One MQTT message as the rig's subscriber received it: a plain record the
oracle judges and the report plots, with no MQTT client behind it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() on arrival

    @property
    def name(self) -> str:
        return self.topic.rsplit("/", 1)[-1]

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")
