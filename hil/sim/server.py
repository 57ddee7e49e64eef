"""The virtual rig: two virtual boards joined by the P1 line model.

One asyncio process owns everything: the boards' ptys and interpreters, the
Unix socket the boards' HAL UARTs connect to, the line's pacing clock, and a
control socket for the host (reset a board, drop WiFi, adapter faults, stats,
each board's heap as its HAL reports it).
The bridge's UART0 RX ring is modelled here: the line only hands the HAL as
many bytes as `rxbuf` leaves room for, and drops (and counts) the rest.

The line keeps the host's time; a board keeps the chip's only while the host
gives it a CPU when it asks for one. So each drop is checked against the
bridge's run delay (how long the kernel kept it runnable but waiting, over the
time the ring takes to fill): drops that delay alone can explain are counted
apart, as the rig's, not the firmware's.
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import struct
import time
from dataclasses import asdict
from pathlib import Path

from ..procutil import sched_times_ns
from .board import VirtualBoard, open_pty
from .clock import DEFAULT_SPEED, board_env, chip_factor, host_cpu_ms
from .dns import DnsServer
from .host_speed import HostSpeed
from .lan import Lan
from .line import ADAPTER_MODES, SAMPLE_RATE, P1Line
from .model import CHIP_FREE_AT_MAIN, board_model, frozen_image

TICK_S = 0.004  # pacing granularity: 4 ms of line time per step
RX_UNREAD_NOTED_S = 0.045  # waits between the bridge's UART reads kept for stats: half what 1 KB lasts at 115200 baud
WAIT_HISTORY = 256  # the bridge's run delay, sampled each tick: ~1 s, more than any ring takes to fill


class _Uart:
    """A HAL UART link as the rig sees it."""

    def __init__(self, board: str, uart: str, writer: asyncio.StreamWriter):
        self.board, self.uart, self.writer = board, uart, writer
        self.baud, self.rxbuf, self.tx_inv, self.rx_inv = 115200, 16, False, False
        self.delivered = 0  # RX bytes handed to the HAL socket
        self.consumed = 0  # RX bytes the firmware has read
        self.acked = 0  # TX bytes that left the FIFO
        self.unread_since: float | None = None  # since when bytes wait in the ring unread (host monotonic)

    def note_read(self, now: float) -> float:
        """The firmware has read: how long since its previous read, or since
        the first byte came into the empty ring (0 if nothing waited)."""
        waited = now - self.unread_since if self.unread_since is not None else 0.0
        self.unread_since = now if self.in_ring > 0 else None
        return waited

    @property
    def in_ring(self) -> int:
        return self.delivered - self.consumed


class VirtualRigServer:
    """The virtual rig inside its own process: both boards, the P1 line, the
    LAN and the control socket the host's hil.sim.handle.VirtualRig talks to."""

    def __init__(self, workdir: Path, bridge_free_at_main: int = CHIP_FREE_AT_MAIN,
                 bridge_image: Path | None = None, board_speed: str = DEFAULT_SPEED):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.link_path = str(self.workdir / "line.sock")
        self.control_path = str(self.workdir / "control.sock")
        self.line = P1Line()
        self.lan = Lan()  # the bridge's WiFi to the broker
        self.dns = DnsServer(reachable=lambda: self.lan.up)  # the LAN's resolver (hil/sim/hal/socket.py)
        self.rx_overflow = 0  # bytes lost because the bridge's RX ring was full
        self.rx_overflow_waiting = 0  # of those, bytes the bridge's wait for a host CPU can explain
        self.rx_peak = 0  # the most bytes the bridge's RX ring has held
        # The bridge's long waits between UART reads while bytes waited: (host time of the read, s).
        self.rx_unread: collections.deque = collections.deque(maxlen=256)
        self._waits: collections.deque = collections.deque(maxlen=WAIT_HISTORY)  # (time, pid, ran ns, waited ns)
        self._drops: collections.deque = collections.deque()  # to judge: (time, bytes, pid, ran ns, window s)
        self._explained: collections.deque = collections.deque(maxlen=WAIT_HISTORY)  # (time, bytes)
        self._uarts: dict[tuple[str, str], _Uart] = {}
        self.boards: dict[str, VirtualBoard] = {}
        # What each board's HAL reports of its heap: (host time, free, lowest free
        # after a collection since the last sample or -1, collections); ~80 min at 10 Hz.
        self.heap: dict[str, collections.deque] = {n: collections.deque(maxlen=50_000) for n in ("emulator", "bridge")}
        self.model = board_model()
        models = {"emulator": self.model,
                  "bridge": frozen_image(bridge_image) if bridge_image else self.model}
        free = {"emulator": CHIP_FREE_AT_MAIN, "bridge": bridge_free_at_main}
        self.board_speed = board_speed
        # At the chip's speed the boards' clocks follow the host's speed (hil/sim/host_speed.py).
        self.host_speed = (HostSpeed(self.workdir / "host-speed", self.model.interpreter,
                                     chip_factor(self.model.interpreter), host_cpu_ms(self.model.interpreter))
                           if board_speed == "chip" and self.model.faithful else None)
        for name in ("emulator", "bridge"):
            env = {"HIL_SIM_BOARD": name, "HIL_SIM_LINE": self.link_path,
                   "HIL_SIM_WIFI_DOWN": str(self.workdir / f"{name}.wifi-down"),
                   "HIL_SIM_DNS_PORT": str(self.dns.port),
                   "HIL_SIM_WIFI_UP": str(self.workdir / f"{name}.wifi-up"),
                   # where its chip time goes (at chip speed; bench/bridge_chip_time.py reads it)
                   "HIL_SIM_CLOCK_PROFILE": str(self.clock_profile(name)),
                   # its long stretches of computing without a wait (hil.sim.chip_time.parse_stretches)
                   "HIL_SIM_CLOCK_STRETCHES": str(self.clock_stretches(name)),
                   **board_env(board_speed, models[name].interpreter, models[name].faithful)}
            if self.host_speed:
                env["HIL_SIM_HOST_SPEED"] = str(self.host_speed.path)
            self.boards[name] = VirtualBoard(
                name, self.workdir / name / "flash", env, free[name],
                to_uart0_rx=(self._deliver_to_bridge if name == "bridge" else None),
                usb_link=self.workdir / "dev" / name, model=models[name])
        self._tap_master, self._tap_slave = open_pty(raw=True)
        self.tap_port = os.ttyname(self._tap_slave)
        self._t0 = 0.0
        self._tasks: list[asyncio.Task] = []
        self._servers: list[asyncio.base_events.Server] = []

    def clock_profile(self, name: str) -> Path:
        """The file where board `name` writes where its chip time went (cmod/vboard/vboard_clock.c)."""
        return self.workdir / f"{name}.clock-profile"

    def clock_stretches(self, name: str) -> Path:
        """The file where board `name` appends its long stretches of computing (vboard_clock.c)."""
        return self.workdir / f"{name}.clock-stretches"

    @property
    def ports(self) -> dict[str, str]:
        """Each board's USB port by its stable name (a link to its pty that
        follows a re-plug), and the P1 line's tap."""
        ports = {name: str(b.usb_link) for name, b in self.boards.items()}
        ports["p1"] = self.tap_port  # a USB-UART adapter on the P1 line
        return ports

    async def start(self) -> None:
        for path in (self.link_path, self.control_path):
            if os.path.exists(path):
                os.unlink(path)
        self._servers.append(await asyncio.start_unix_server(self._serve_link, self.link_path))
        self._servers.append(await asyncio.start_unix_server(self._serve_control, self.control_path))
        await self.dns.start()
        self._t0 = time.monotonic()
        self._tasks.append(asyncio.create_task(self._pace(), name="line-pacing"))
        if self.host_speed:
            self._tasks.append(asyncio.create_task(self.host_speed.run(), name="host-speed"))
        for board in self.boards.values():
            await board.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            server.close()
        for board in self.boards.values():
            await board.stop()
        await self.lan.close()
        self.dns.close()
        if self.host_speed:
            self.host_speed.close()
        os.close(self._tap_master)
        os.close(self._tap_slave)
        for path in (self.link_path, self.control_path):
            if os.path.exists(path):
                os.unlink(path)

    def _now(self) -> int:
        return int((time.monotonic() - self._t0) * SAMPLE_RATE)

    # --- the line ---
    async def _pace(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._sample_bridge_wait()
            decoded, sent = self.line.advance(self._now())
            tx = self._uarts.get(("emulator", "1"))
            if sent and tx is not None:
                tx.acked += sent
                tx.writer.write(struct.pack(">I", tx.acked))
            if decoded:
                self._deliver_to_bridge(decoded)
            if self.line.tapped:
                try:
                    os.write(self._tap_master, self.line.tapped)
                except BlockingIOError:
                    pass  # nobody reading the adapter: bytes lost, as on the wire

    def _deliver_to_bridge(self, data: bytes) -> None:
        board = self.boards["bridge"]
        if board.repl_attached:
            board.uart0_rx_to_repl(data)
            return
        rx = self._uarts.get(("bridge", "0"))
        room = rx.rxbuf - rx.in_ring if rx is not None else 0
        if room < len(data):
            lost = len(data) - max(room, 0)
            self.rx_overflow += lost
            if rx is not None:
                self._note_drop(lost, rx)
            data = data[:max(room, 0)]
        if data:
            if rx.in_ring == 0 and rx.unread_since is None:
                rx.unread_since = time.monotonic()
            rx.writer.write(data)
            rx.delivered += len(data)
            self.rx_peak = max(self.rx_peak, rx.in_ring)

    def _bridge_sched(self) -> tuple[int | None, tuple[int, int] | None]:
        """The bridge interpreter's pid and its (ran, waited) ns, None while it is not running."""
        pid = self.boards["bridge"].pid
        return pid, sched_times_ns(pid) if pid is not None else None

    def _sample_bridge_wait(self) -> None:
        pid, times = self._bridge_sched()
        if times is None:
            return
        now = time.monotonic()
        self._waits.append((now, pid, *times))
        # A wait is counted when it ends, so a drop is judged once the bridge has run since.
        while self._drops and (self._drops[0][2] != pid or times[0] > self._drops[0][3]):
            at, lost, drop_pid, _ran, window = self._drops.popleft()
            if drop_pid == pid and self._waited_bytes(at - window, pid) >= lost + self._explained_in(at - window):
                self.rx_overflow_waiting += lost
                self._explained.append((at, lost))

    def _note_drop(self, lost: int, rx: _Uart) -> None:
        """Keep a drop to judge later: could the bridge have read those bytes had
        the host given it a CPU whenever it was ready to run, over the time its
        ring takes to fill? One wait explains each byte once."""
        pid, times = self._bridge_sched()
        if times is not None:
            window = rx.rxbuf * 10 / rx.baud + 2 * TICK_S
            self._drops.append((time.monotonic(), lost, pid, times[0], window))

    def _waited_bytes(self, since: float, pid: int) -> float:
        """Line bytes that passed while the bridge waited for a CPU from `since` until now."""
        base = None
        for at, p, _ran, waited in self._waits:
            if p == pid and (base is None or at <= since):
                base = waited
        latest = next((w[3] for w in reversed(self._waits) if w[1] == pid), None)
        if base is None or latest is None:
            return 0.0
        return (latest - base) / 1e9 * self.line.rx_baud / 10

    def _note_unread(self, waited: float) -> None:
        if waited >= RX_UNREAD_NOTED_S:
            self.rx_unread.append((time.monotonic(), waited))

    def _explained_in(self, since: float) -> int:
        return sum(n for at, n in self._explained if at >= since)

    # --- HAL links ---
    async def _serve_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uart: _Uart | None = None
        try:
            while True:
                head = await reader.readexactly(3)
                payload = await reader.readexactly(struct.unpack(">H", head[1:])[0])
                kind = head[:1]
                if kind == b"H":
                    board, uart_id = payload.decode().split()
                    uart = _Uart(board, uart_id, writer)
                    self._uarts[(board, uart_id)] = uart
                elif uart is None:
                    continue
                elif kind == b"C":
                    self._configure(uart, payload.decode().split())
                elif kind == b"D":
                    self.line.queue(payload, self._now())
                elif kind == b"R":
                    uart.consumed += struct.unpack(">I", payload)[0]
                    if (uart.board, uart.uart) == ("bridge", "0"):
                        self._note_unread(uart.note_read(time.monotonic()))
                elif kind == b"T":
                    self.boards[uart.board].repl_attached = payload == b"1"
                elif kind == b"M":
                    free, low, collections = struct.unpack(">iii", payload)
                    self.heap[uart.board].append((time.monotonic(), free, low, collections))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if uart is not None and self._uarts.get((uart.board, uart.uart)) is uart:
                del self._uarts[(uart.board, uart.uart)]
                if uart.board == "bridge":
                    self.boards["bridge"].repl_attached = True  # interpreter restarted
            writer.close()

    def _configure(self, uart: _Uart, fields: list[str]) -> None:
        baud, _bits, _parity, _stop, rxbuf, tx_inv, rx_inv = fields
        uart.baud, uart.rxbuf = int(baud), int(rxbuf)
        uart.tx_inv, uart.rx_inv = tx_inv == "1", rx_inv == "1"
        if (uart.board, uart.uart) == ("emulator", "1"):
            self.line.tx.baud, self.line.tx.invert = uart.baud, uart.tx_inv
        elif (uart.board, uart.uart) == ("bridge", "0"):
            self.line.configure_rx(uart.baud, uart.rx_inv)

    # --- host control ---
    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    if msg.get("cmd") == "lan":
                        host, _, port = msg["broker"].rpartition(":")
                        reply = {"ok": True, "port": await self.lan.forward(host, int(port))}
                    elif msg.get("cmd") == "broker_at":
                        await self.lan.move(msg["address"])
                        reply = {"ok": True, "address": self.lan.address, "port": self.lan.port}
                    else:
                        reply = self.command(msg)
                except (KeyError, ValueError, TypeError, OSError) as e:
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    def command(self, msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "stats":
            stats = asdict(self.line.stats)
            # Line time → the host's monotonic clock, which all local processes share.
            stats["bursts"] = [[self._t0 + a / SAMPLE_RATE, self._t0 + b / SAMPLE_RATE, n]
                               for a, b, n in self.line.stats.bursts]
            return {"ok": True, "line": stats, "rx_overflow": self.rx_overflow,
                    "rx_overflow_waiting": self.rx_overflow_waiting, "rx_peak": self.rx_peak,
                    "rx_unread": [list(x) for x in self.rx_unread],
                    "tx": {"baud": self.line.tx.baud, "invert": self.line.tx.invert},
                    "rx": {"baud": self.line.rx_baud, "invert": self.line.rx_invert},
                    "adapter": {"mode": self.line.adapter, "rise_us": self.line.rise_delay_s * 1e6,
                                "fall_us": self.line.fall_delay_s * 1e6},
                    "host_speed": self.host_speed.stats() if self.host_speed else None,
                    "repl_attached": {n: b.repl_attached for n, b in self.boards.items()},
                    "resets": {n: b.resets for n, b in self.boards.items()},
                    "reset_at": {n: b.reset_at for n, b in self.boards.items()},
                    "usb": {n: b.usb_port for n, b in self.boards.items()},
                    "pid": {n: b.pid for n, b in self.boards.items()}}
        if cmd == "heap":
            since = float(msg.get("since", 0))
            return {"ok": True, "samples": [list(x) for x in self.heap[msg["board"]] if x[0] > since]}
        if cmd == "reset":
            self.boards[msg["board"]].hard_reset()
            return {"ok": True}
        if cmd == "usb":
            board = self.boards[msg["board"]]
            board.plug() if msg["plugged"] else board.unplug()
            return {"ok": True, "port": board.usb_port}
        if cmd == "wifi":
            flag = self.workdir / f"{msg['board']}.wifi-down"
            if msg["up"]:
                # When the AP came back, as the board's ticks_ms() counts it
                # (CLOCK_MONOTONIC, modulo its 2**30 period): association starts
                # then (hal/network.py). Written before the flag goes.
                up = self.workdir / f"{msg['board']}.wifi-up"
                up.write_text(str(int(time.monotonic() * 1000) & (2**30 - 1)))
                flag.unlink(missing_ok=True)
            else:
                flag.touch()
            if msg["board"] == "bridge":
                self.lan.set_up(bool(msg["up"]))
            return {"ok": True}
        if cmd == "dns":
            if "mode" in msg:
                self.dns.set(msg["name"], msg["mode"], msg.get("address"))
            name = msg["name"].lower()
            return {"ok": True, "queries": [t for t, n in self.dns.queries if n == name]}
        if cmd == "adapter":
            mode = msg.get("mode", self.line.adapter)
            if mode not in ADAPTER_MODES:
                raise ValueError(f"adapter mode must be one of {'|'.join(ADAPTER_MODES)}, not {mode!r}")
            rise, fall = float(msg.get("rise_us", 0)), float(msg.get("fall_us", 0))
            if not (0 <= rise < 1e6 and 0 <= fall < 1e6):
                raise ValueError("rise_us and fall_us are edge delays in microseconds, 0 or more")
            self.line.adapter = mode
            self.line.rise_delay_s, self.line.fall_delay_s = rise * 1e-6, fall * 1e-6
            return {"ok": True, "adapter": mode, "rise_us": rise, "fall_us": fall}
        raise ValueError(f"unknown command {cmd!r}")
