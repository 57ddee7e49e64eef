"""The rig as one object: emulator board, bridge board and broker.

States are explicit (off → deployed → running) and a failed transition is
kept and re-raised rather than retried into confusion. The rig talks to the
boards only through their serial ports (raw REPL, log lines) and to the bridge's
output only through MQTT; it knows nothing of the bridge firmware's insides
except the files to copy and the config.json it documents.
"""
from __future__ import annotations

import enum
import json
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from ..p1.framing import split_telegrams
from ..shipped import BRIDGE_FIRMWARE, METER_EMULATOR
from .firmware import FirmwareError, arch_for
from .benchconfig import DEFAULT_BASE_TOPIC, VIRTUAL_WIFI
from .board import Board, BoardError, BoardTimeout
from .deploy import DEFAULT as DEFAULT_DEPLOY, Deploy, build_for, put_on_board
from .emulator import CAPTURE_DIR_ON_BOARD, EmulatorClient, TelegramSent, put_capture

EMULATOR_FIRMWARE = METER_EMULATOR


CLIENT_ID = "p1bridge-hil"  # the bridge's MQTT client id in the suite's runs
# The suite's runs shorten the bridge's boot window (its own default is 2000 ms,
# bridge_firmware/config.py): every reset waits it out, and the rig's Ctrl-C
# comes within a few ms of the prompt. tests/host/test_rig_config.py keeps it
# below the firmware's default.
SUITE_BOOT_WINDOW_MS = 1500


class RigError(Exception):
    pass


def bridge_config(wifi: tuple[str, str], broker_host: str, broker_port: int, base_topic: str,
                  user: str | None = None, password: str | None = None, mqtt: dict | None = None,
                  **extra) -> dict:
    """The config.json this project's bridge reads (bridge_firmware/README.md),
    for the suite's runs and for `hil deploy` alike: WiFi, broker, base topic;
    `mqtt` joins the "mqtt" section, `extra` the top level."""
    section = {"host": broker_host, "port": int(broker_port)}
    if user:
        section.update(user=user, password=password or "")
    section.update(mqtt or {})
    return {"wifi": {"ssid": wifi[0], "password": wifi[1]}, "mqtt": section, "base_topic": base_topic, **extra}


class RigState(enum.Enum):
    OFF = "off"
    DEPLOYED = "deployed"  # emulator ready, bridge flashed but not started
    RUNNING = "running"  # bridge running and connected to the broker


@dataclass(frozen=True)
class BrokerAccess:
    """How the bridge reaches the broker (host as seen from the board)."""
    host: str
    port: int
    user: str
    password: str


class BrokerLog(Protocol):
    """The broker's own record of its clients (hil.net.broker.Mosquitto is one)."""

    def log_mark(self) -> int: ...

    def wait_client(self, client_id: str | None, since: int, timeout: float) -> bool: ...

    def log_tail(self, n: int = 20) -> str: ...


CONFIG_NAMES = ("wifi_ssid", "wifi_password", "broker_host", "broker_port", "broker_user", "broker_password",
                "base_topic", "client_id")
"""The $names a bridge's config template may use (Rig.config_values gives them)."""


def fill_config_template(template: str, values: dict[str, str | int]) -> dict:
    """A config template (JSON text with $names: "$broker_host" in quotes,
    $broker_port bare) filled in and parsed; RigError says what is wrong.
    string.Template because its $names leave JSON's braces alone."""
    escaped = {k: v if isinstance(v, int) else json.dumps(v)[1:-1] for k, v in values.items()}
    try:
        text = string.Template(template).substitute(escaped)
    except KeyError as e:
        raise RigError(f"config template: ${e.args[0]} is not one of ${', $'.join(CONFIG_NAMES)}") from e
    except ValueError as e:
        raise RigError(f"config template: {e}; write $$ for a literal $") from e
    try:
        return json.loads(text)
    except ValueError as e:
        raise RigError(f"config template is not JSON once filled in ({e}):\n{text}") from e


class Rig:
    def __init__(self, emulator: Board, bridge: Board, broker: BrokerAccess, *,
                 base_topic: str = DEFAULT_BASE_TOPIC, wifi: tuple[str, str] = VIRTUAL_WIFI,
                 reset_bridge: Callable[[], None] | None = None, build_dir: Path | None = None,
                 bridge_mqtt: dict | None = None, broker_log: BrokerLog | None = None,
                 keep_user_config: bool = False):
        """bridge_mqtt: settings for the "mqtt" section of every config.json the
        rig writes, e.g. {"backend": "mqtt_as"}. broker_log: the broker's record
        of its clients; with it the rig knows the bridge is up when the broker
        sees its client connect, without anything from the bridge's firmware.
        keep_user_config: a real bridge's own config.json is read before the
        rig writes its own, so restore_user_config() can put it back."""
        self.emulator = emulator
        self.emulator_client = EmulatorClient(emulator)
        self.bridge = bridge
        self.broker = broker
        self.base_topic = base_topic
        self.wifi = wifi
        self.bridge_mqtt = dict(bridge_mqtt or {})
        self._reset_bridge = reset_bridge
        self._broker_log = broker_log
        self.state = RigState.OFF
        self._failure: BaseException | None = None
        self._build_dir = build_dir or Path(tempfile.mkdtemp(prefix="hil-build-"))
        self._telegrams_in: dict[str, int] = {}  # capture on the emulator -> telegrams it holds
        self._keep_user_config = keep_user_config
        self._user_config: bytes | None = None  # the bridge's config.json before the rig's first deploy
        self._user_config_read = False

    def _guard(self) -> None:
        if self._failure is not None:
            raise RigError(f"the rig failed earlier and was not recovered: {self._failure}") from self._failure

    # --- emulator ---
    def deploy_emulator(self, firmware: Path = EMULATOR_FIRMWARE) -> None:
        self._guard()
        try:
            put_on_board(self.emulator, build_for(firmware, Deploy.MPY, self._build_dir / "emulator",
                                                  arch_for(self.emulator.virtual)))
            self.emulator.mkdir(CAPTURE_DIR_ON_BOARD)
            self.emulator_client.start()
        except BoardError as e:
            self._failure = e
            raise

    def upload_capture(self, name: str, data: bytes) -> str:
        """Store telegram bytes on the emulator's flash; returns the path there."""
        self.emulator_client.stop_serving()
        remote, _copied = put_capture(self.emulator, name, data)
        self._telegrams_in[remote] = max(1, len(split_telegrams(data)))
        return remote

    def set_inverted(self, inverted: bool) -> None:
        self.emulator_client.command(f"line invert={int(bool(inverted))}")

    def play(self, remotes: list[str], interval_ms: int = 1000, count: int = 1,
             on_sent: Callable[[TelegramSent], None] | None = None,
             timeout: float | None = None) -> list[TelegramSent]:
        """Play capture files on the emulator and wait until they are sent
        (by default as long as every telegram of every file takes, count times)."""
        self._guard()
        if timeout is None:
            telegrams = count * sum(self._telegrams_in.get(r, 1) for r in remotes)
            timeout = 10 + telegrams * (interval_ms / 1000 + 0.5)
        return self.emulator_client.play(remotes, interval_ms, count, on_sent=on_sent, timeout=timeout)

    # --- bridge ---
    def bridge_config(self, **overrides) -> dict:
        """config.json for a run: this rig's WiFi, broker and base topic, a client id
        the broker's log names, and status often enough to plot a test."""
        return bridge_config(self.wifi, self.broker.host, self.broker.port, self.base_topic,
                             self.broker.user, self.broker.password,
                             mqtt={"client_id": CLIENT_ID, "keepalive": 30, **self.bridge_mqtt},
                             **{"boot_window_ms": SUITE_BOOT_WINDOW_MS, "status_interval_s": 2, **overrides})

    def config_values(self) -> dict[str, str | int]:
        """What a config template's $names stand for (see bridge_config_from)."""
        return {"wifi_ssid": self.wifi[0], "wifi_password": self.wifi[1],
                "broker_host": self.broker.host, "broker_port": self.broker.port,
                "broker_user": self.broker.user, "broker_password": self.broker.password,
                "base_topic": self.base_topic, "client_id": CLIENT_ID}

    def bridge_config_from(self, template: str) -> dict:
        """config.json from a bridge's own template (see fill_config_template)."""
        return fill_config_template(template, self.config_values())

    def deploy_bridge(self, firmware: Path = BRIDGE_FIRMWARE, config: dict | None = None,
                      libs: list[Path] = (), timeout: float = 30, deploy: Deploy = DEFAULT_DEPLOY,
                      wait_connected: bool = True) -> None:
        """Copy the firmware, extra library modules (e.g. mqtt_as) and
        config.json, reset, and wait until the bridge reports its MQTT
        connection. The emulator must be silent meanwhile: the bridge's REPL
        shares its RX line with the P1 data.

        deploy: where the modules go (hil.rig.deploy.build_for, put_on_board).
        wait_connected=False: return once the bridge is reset and its log watched."""
        self._guard()
        try:
            files = build_for(firmware, deploy, self._build_dir / "bridge", arch_for(self.bridge.virtual), libs)
            if self.emulator_client.serving:
                self.emulator_client.command("stop")  # the bridge's REPL shares its RX with the P1 line
            if self._reset_bridge is not None:
                self.bridge.reset_into_repl(self._reset_bridge)  # a running bridge has detached its REPL
            else:
                self.bridge.enter_raw_repl()
            if self._keep_user_config and not self._user_config_read:
                self._user_config = self.bridge.read("config.json")
                self._user_config_read = True
            config = config or self.bridge_config()
            put_on_board(self.bridge, files, config)
            self.state = RigState.DEPLOYED
            since = self.bridge.mark()
            client_id = (config.get("mqtt") or {}).get("client_id")
            broker_since = self._broker_log.log_mark() if self._broker_log is not None else 0
            self.bridge.machine_reset()
            self.bridge.start_monitor()
            if wait_connected:
                self._wait_bridge_up(client_id, broker_since, since, timeout)
            self.state = RigState.RUNNING
        except (BoardError, FirmwareError) as e:
            self._failure = e
            raise

    def _wait_bridge_up(self, client_id: str | None, broker_since: int, log_since: int, timeout: float) -> None:
        # Up = its MQTT client connected, as the broker saw it (by the config's
        # client id, or any client but the rig's own when the config names none);
        # without the broker's log, the bridge's own log line.
        if self._broker_log is None:
            self.bridge.expect_line(r"^bridge: .*mqtt.*connected", timeout, since=log_since)
            return
        if not self._broker_log.wait_client(client_id, broker_since, timeout):
            who = f"client {client_id!r}" if client_id else "any client (the config names no mqtt.client_id)"
            raise BoardTimeout(
                f"bridge: the broker saw no connection from {who} within {timeout} s of the reset.\n"
                f"--- the bridge's serial output ---\n{self.bridge.log.tail(15)}\n"
                f"--- the broker's log ---\n{self._broker_log.log_tail(8)}")

    def restart_bridge(self, timeout: float = 30) -> None:
        """Reset the bridge and let it boot on its own (main.py), as after a
        power cut; waits for its boot banner."""
        since = self.bridge.mark()
        self.reset_bridge()
        self.bridge.expect_line(r"^bridge: config ok", timeout, since=since)

    @property
    def can_reset_bridge(self) -> bool:
        """Whether this rig has a way to reset the bridge (the virtual rig's control
        socket, DTR/RTS, a place's power switch): asked before a test that needs one."""
        return self._reset_bridge is not None

    def reset_bridge(self) -> None:
        """Reset the bridge (its reset binding) and watch its log; returns at once."""
        if self._reset_bridge is None:
            raise RigError("this rig has no way to reset the bridge (no reset binding)")
        self._reset_bridge()
        self.bridge.start_monitor()

    def clear_stale_output(self) -> None:
        """Between tests: whatever the emulator said and nobody read goes to
        its log, not into the next test's replies. (The bridge's output is
        read all the time by its monitor; tests look from their log mark.)"""
        if self.emulator_client.serving:
            self.emulator.discard_input()

    def evidence(self, lines: int = 25) -> list[tuple[str, str]]:
        """(title, excerpt) of each board's log and the emulator's status,
        for failure messages."""
        out = []
        for board in (self.bridge, self.emulator):
            where = f" ({board.log.path})" if board.log.path else ""
            out.append((f"{board.role} log, last {lines} lines{where}", board.log.tail(lines)))
        status = self.emulator_client.status_if_idle()
        out.append(("emulator status", status if isinstance(status, str) else json.dumps(status)))
        return out

    def restore_user_config(self) -> str:
        """Put back the config.json the bridge had before the rig's first deploy
        (keep_user_config) and restart it; returns what happened, in words for
        the user: a bridge left pointing at the suite's broker must not pass silently."""
        if not self._keep_user_config or not self._user_config_read:
            return ""
        where = f"the bridge on {self.bridge.port}"
        if self._user_config is None:
            return (f"{where} had no config.json before this run; it keeps the suite's, which names a broker that "
                    "is gone now: deploy your own (hil deploy --role bridge --rig-config FILE)")
        try:
            if self.emulator_client.serving:
                self.emulator_client.command("stop")  # the bridge's REPL shares its RX with the P1 line
            if self._reset_bridge is None:
                raise RigError("it cannot be reset from here (no DTR/RTS reset for its port)")
            self.bridge.reset_into_repl(self._reset_bridge)
            self.bridge.put(self._user_config, "config.json")
            self.bridge.machine_reset()
        except (BoardError, RigError) as e:
            return (f"{where} still holds the suite's config.json (its broker is gone now): restoring yours failed: "
                    f"{str(e).splitlines()[0]}. Put it back with hil deploy --role bridge --rig-config FILE")
        return f"{where} has its own config.json back ({len(self._user_config)} bytes) and was restarted"

    def close(self) -> None:
        for board in (self.emulator, self.bridge):
            board.close()
        self.state = RigState.OFF
