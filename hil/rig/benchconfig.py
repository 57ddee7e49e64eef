"""The bench's rig config: WiFi, broker and board bindings for real boards.

A JSON file local to the user's bench (never committed; `rig.example.json`
documents it), read by the `hil` commands and by pytest's --rig-config into
one typed RigConfig; options given on the command line take precedence
(RigConfig.with_options). The defaults a bridge takes when the file says
nothing are stated here once: they are the bridge firmware's own
(bridge_firmware/config.py DEFAULTS; tests/host/test_rig_config.py holds them equal).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..jsonfile import read_json

DEFAULT_BASE_TOPIC = "p1"  # config.json's base_topic when it names none
DEFAULT_BROKER_PORT = 1883  # config.json's mqtt.port when it names none
VIRTUAL_WIFI = ("hil-rig", "hil-rig-password")  # the virtual board's WLAN takes any
ROLES = ("emulator", "bridge")


class RigConfigError(Exception):
    """The rig config is missing, unreadable or malformed; the message says which."""


@dataclass(frozen=True)
class BrokerSettings:
    """The "broker" section; None where neither the file nor an option gives a value."""
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class RigConfig:
    """A bench's rig config, typed; an empty one when no file is given."""
    wifi: tuple[str, str] | None = None  # (ssid, password)
    broker: BrokerSettings = BrokerSettings()
    base_topic: str | None = None
    boards: dict[str, str | None] = field(default_factory=dict)  # role -> binding (path, serial:..., location:...)
    bridge: dict = field(default_factory=dict)  # extra config.json keys for `hil deploy`
    keys: tuple[str, ...] = ()  # the file's own top-level keys

    @property
    def topic(self) -> str:
        """The base topic the bridge publishes under: the given one, else the bridge's default."""
        return self.base_topic or DEFAULT_BASE_TOPIC

    def binding(self, role: str | None) -> str | None:
        return self.boards.get(role) if role else None

    def with_options(self, *, broker_host: str | None = None, broker_port: int | None = None,
                     broker_user: str | None = None, broker_password: str | None = None,
                     base_topic: str | None = None, bindings: dict[str, str | None] | None = None) -> "RigConfig":
        """This config with the options given (not None) taking precedence."""
        given = {"host": broker_host, "port": broker_port, "user": broker_user, "password": broker_password}
        broker = replace(self.broker, **{k: v for k, v in given.items() if v is not None})
        boards = {**self.boards, **{r: b for r, b in (bindings or {}).items() if b}}
        return replace(self, broker=broker, base_topic=base_topic or self.base_topic, boards=boards)


def _section(cfg: dict, name: str, path: str) -> dict:
    value = cfg.get(name) or {}
    if not isinstance(value, dict):
        raise RigConfigError(f"the rig config {path}: \"{name}\" must be a JSON object (see rig.example.json)")
    return value


def load_rig_config(path: str | None) -> RigConfig:
    if not path:
        return RigConfig()
    cfg = read_json(path, "the rig config", RigConfigError)
    if not isinstance(cfg, dict):
        raise RigConfigError(f"the rig config {path} must hold a JSON object (see rig.example.json)")
    wifi, broker = _section(cfg, "wifi", path), _section(cfg, "broker", path)
    port = broker.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise RigConfigError(f"the rig config {path}: broker.port must be a number, not {port!r}")
    return RigConfig(wifi=(wifi["ssid"], wifi.get("password", "")) if wifi.get("ssid") else None,
                     broker=BrokerSettings(broker.get("host"), port, broker.get("user"), broker.get("password")),
                     base_topic=cfg.get("base_topic"),
                     boards={role: b for role, b in _section(cfg, "boards", path).items()},
                     bridge=dict(_section(cfg, "bridge", path)), keys=tuple(cfg))
