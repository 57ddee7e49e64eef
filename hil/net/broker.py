"""Mosquitto lifecycle for the rig: a real broker on a free port, with a password.

The rig needs a broker that behaves like the user's: authentication required, no
persistence between runs, and real failure modes (a stalled broker is a SIGSTOPped
process, an outage is a stopped one). This module owns exactly that: it generates a
config and a password file in a private temp dir, starts `mosquitto`, waits until it
accepts TCP connections, and tears it down without leaving a process behind.

    with Mosquitto() as broker:
        client.username_pw_set(broker.user, broker.password)
        client.connect(broker.host, broker.port)
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..procutil import die_with_parent, free_port

__all__ = ["BrokerError", "Mosquitto", "find_mosquitto"]

RIG_CLIENT_PREFIX = "hil-"  # client ids of the rig's own MQTT clients (hil.net.subscriber)
_INSTALL_HINT = "install it with `sudo apt-get install mosquitto` (or run `scripts/bootstrap`)"
_SBIN_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The broker could not be found, started or controlled."""


def find_mosquitto() -> tuple[str, str]:
    """Return (mosquitto, mosquitto_passwd) paths, or raise BrokerError with the fix.

    Debian puts mosquitto in /usr/sbin, which is not on a normal user's PATH, so the
    usual sbin locations are tried before PATH.
    """
    broker = next((p for p in _SBIN_CANDIDATES if os.access(p, os.X_OK)), None)
    broker = broker or shutil.which("mosquitto")
    if broker is None:
        raise BrokerError(f"mosquitto not found (looked in {', '.join(_SBIN_CANDIDATES)} and PATH); {_INSTALL_HINT}")
    passwd = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path=os.path.dirname(broker) + os.pathsep + "/usr/bin"
    )
    if passwd is None:
        raise BrokerError(f"mosquitto_passwd not found next to {broker} or on PATH; {_INSTALL_HINT}")
    return broker, passwd


class Mosquitto:
    """A private mosquitto instance. Use as a context manager, or start()/stop().

    host:  address the listener binds (127.0.0.1 for the virtual rig; the PC's LAN
           address when real boards must reach it).
    port:  TCP port; 0 picks a free one once, kept across restart().
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "p1bridge",
        password: str | None = None,
        *,
        start_timeout: float = 10.0,
        workdir: str | os.PathLike | None = None,
    ):
        self.host = host
        self.user = user
        self.password = password if password is not None else secrets.token_urlsafe(12)
        self.start_timeout = start_timeout
        self._requested_port = port
        self.port: int = port
        self._proc: subprocess.Popen | None = None
        self._paused = False
        self._own_dir = workdir is None
        self._dir = Path(workdir) if workdir is not None else None
        self._binary: str | None = None

    # -- paths -------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        if self._dir is None:
            raise BrokerError("broker not started yet: no work directory")
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, n: int = 20) -> str:
        """The last n lines of the broker log ('' if there is none yet)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, BrokerError):
            return ""
        return "\n".join(lines[-n:])

    def log_mark(self) -> int:
        """Where the broker log ends now: wait_client() looks only after it."""
        try:
            return self.log_path.stat().st_size
        except (OSError, BrokerError):
            return 0

    def wait_client(self, client_id: str | None, since: int, timeout: float) -> bool:
        """True once the broker logs a connection of client_id after log_mark()
        `since` (client_id None: of any client but the rig's own subscribers,
        whose ids start with RIG_CLIENT_PREFIX); False after timeout. What the
        broker saw needs nothing from the client's firmware (no log line, no
        status topic)."""
        pattern = re.compile(rb"New client connected from \S+ as (\S+) \(")
        deadline = time.monotonic() + timeout
        pos = since
        while True:
            for line in self._lines_after(pos):
                pos += len(line)
                m = pattern.search(line)
                if m and (m.group(1).decode() == client_id if client_id is not None
                          else not m.group(1).decode().startswith(RIG_CLIENT_PREFIX)):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # mosquitto only appends to its log: nothing to wait on but the file

    _SUBSCRIBE = re.compile(rb"^\S+: Received SUBSCRIBE from (.+)\n$")
    _FILTER = re.compile(rb"^\S+: \t(\S+) \(QoS \d\)\n$")  # one per topic filter, after the line above

    def subscribed_topics(self, since: int, client_prefix: str | None = None) -> set[str]:
        """Topic filters the broker logged a subscription to after log_mark()
        `since`, by clients whose id starts with client_prefix (None: any but the
        rig's own subscribers). Client ids may hold spaces (zabbix_agent2's do)."""
        topics, client = set(), None
        for line in self._lines_after(since):
            m = self._SUBSCRIBE.match(line)
            if m:
                client = m.group(1).decode(errors="replace")
                continue
            m = self._FILTER.match(line)
            if m and client is not None and (client.startswith(client_prefix) if client_prefix is not None
                                             else not client.startswith(RIG_CLIENT_PREFIX)):
                topics.add(m.group(1).decode(errors="replace"))
            elif b": Sending SUBACK to " in line:
                client = None
        return topics

    def _lines_after(self, pos: int) -> list[bytes]:
        """The whole lines the broker logged after byte `pos`, each with its
        newline (a line still being written is left for the next read)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except OSError:
            return []
        whole = data[:data.rfind(b"\n") + 1]
        return [line + b"\n" for line in whole.split(b"\n")[:-1]]

    # -- lifecycle ---------------------------------------------------------------
    def _prepare(self) -> None:
        broker, passwd = find_mosquitto()
        self._binary = broker
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="p1rig-mosquitto-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        pwfile = self._dir / "passwd"
        r = subprocess.run(
            [passwd, "-b", "-c", str(pwfile), self.user, self.password],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise BrokerError(f"{passwd} failed (exit {r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
        # mosquitto 2.x warns about world-readable password files; keep it private.
        os.chmod(pwfile, 0o600)
        self.conf_path.write_text(
            "\n".join(
                [
                    "# generated by hil/net/broker.py for one rig run",
                    f"listener {self.port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {pwfile}",
                    "persistence false",
                    # Started as root, mosquitto drops to user `mosquitto`, which cannot
                    # read our private temp dir; stay the invoking user instead.
                    f"user {pwd.getpwuid(os.geteuid()).pw_name}",
                    f"log_dest file {self.log_path}",
                    "log_type all",
                    "connection_messages true",
                    "log_timestamp true",
                    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                    "",
                ]
            )
        )

    def start(self) -> "Mosquitto":
        """Start the broker and return once it accepts TCP connections."""
        if self.is_running():
            return self
        if self._binary is None:
            self._prepare()
        # stdout/stderr go to a file too: mosquitto reports config errors there
        # before its own log file is open.
        self._stderr = open(self.workdir / "mosquitto.stderr", "ab")
        self._proc = subprocess.Popen(
            [self._binary, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it first
            preexec_fn=die_with_parent,
        )
        self._paused = False
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while True:
            rc = self._proc.poll()
            if rc is not None:
                self._close_stderr()
                self._proc = None
                raise BrokerError(self._failure(f"mosquitto exited with code {rc} during start-up"))
            try:
                if self._probe():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._kill()
                raise BrokerError(
                    self._failure(f"mosquitto did not accept connections on {self.host}:{self.port} "
                                  f"within {self.start_timeout:.1f} s")
                )
            time.sleep(delay)  # polling a port: there is no event to wait on
            delay = min(delay * 2, 0.1)

    def _probe(self) -> bool:
        """True when OUR broker answers an authenticated MQTT CONNECT on the port.

        A bare TCP connect is not enough: another process may own the port (then
        mosquitto exits with a bind error, but the connect would still succeed).
        """
        user, pw = self.user.encode(), self.password.encode()
        cid = b"hil-broker-probe"
        var = b"\x00\x04MQTT\x04\xc2\x00\x05"  # 3.1.1, user+password+clean, keepalive 5
        payload = b"".join(len(x).to_bytes(2, "big") + x for x in (cid, user, pw))
        body = var + payload
        with socket.create_connection((self.host, self.port), timeout=1.0) as s:
            n, rl = len(body), bytearray()
            while True:  # MQTT remaining-length varint
                rl.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
                n >>= 7
                if not n:
                    break
            s.sendall(b"\x10" + bytes(rl) + body)
            ack = b""
            while len(ack) < 4:
                chunk = s.recv(4 - len(ack))
                if not chunk:
                    return False
                ack += chunk
            s.sendall(b"\xe0\x00")  # DISCONNECT, so no LWT/noise beyond one log line
        if ack[0] != 0x20 or ack[3] != 0:
            raise BrokerError(self._failure(f"broker on {self.host}:{self.port} refused the rig's own credentials "
                                            f"(CONNACK {ack.hex()})"))
        return True

    def _failure(self, what: str) -> str:
        stderr = ""
        try:
            stderr = (self.workdir / "mosquitto.stderr").read_text(errors="replace").strip()
        except OSError:
            pass
        tail = self.log_tail(15) or stderr or "(log is empty)"
        return (
            f"{what}.\n--- tail of {self.log_path} ---\n{tail}\n---\n"
            f"Fix: if the address is in use, pick another port; if {self.host} is not an address "
            f"of this machine, pass bind host=<LAN address>; check the config {self.conf_path}."
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait, then SIGKILL. Safe to call more than once."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if self._paused:
                # A stopped process cannot act on SIGTERM until continued.
                self._signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self._proc = None
        self._paused = False
        self._close_stderr()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def _close_stderr(self) -> None:
        f = getattr(self, "_stderr", None)
        if f is not None:
            f.close()
            self._stderr = None

    def restart(self) -> None:
        """Stop and start again on the same port (clients see a real outage)."""
        self.stop()
        self.start()

    def _signal(self, sig: int) -> None:
        if not self.is_running():
            raise BrokerError(f"broker is not running; cannot send {signal.Signals(sig).name}")
        os.kill(self._proc.pid, sig)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): TCP stays open, nothing is answered."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Continue a paused broker (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def cleanup(self) -> None:
        """Stop and remove the temp directory (the log goes with it)."""
        self.stop()
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._binary = None

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        # On an error keep the work dir (and its log) so the failure can point at it;
        # after a clean block remove it. The process never outlives the block.
        if exc_type is None:
            self.cleanup()
        else:
            self.stop()

    def __repr__(self) -> str:
        state = "paused" if self._paused else ("running" if self.is_running() else "stopped")
        return f"<Mosquitto {self.host}:{self.port} {state} log={self._dir and self.log_path}>"
