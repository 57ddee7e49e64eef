"""A MemoryError while the mqtt_as backend is set up (importing
mqtt_as_adapter, or building its client) falls back to the built-in client
with one log line, frees what the attempt allocated, and holds across
application restarts: the next start does not try mqtt_as again. mqtt_as here
is the recording fake (fake_mqtt_as/); mqtt_as_adapter a test double that runs
out of memory where a board's heap would."""

import json
import os
import socket
import subprocess

import pytest

from conftest import FIRMWARE, MPY_SCRIPTS, micropython_path
from test_mqtt import SAG, SX, LoggedProcess, Subscriber, bridge_config, collect_latest
from test_reader import expected

DOUBLES = {
    "import": '''\
print("test double: import mqtt_as_adapter")
_ballast = bytearray(4096)  # what the import had allocated when the heap ran out
raise MemoryError("memory allocation failed, allocating 1234 bytes")
''',
    "construct": '''\
print("test double: import mqtt_as_adapter")


class Client:
    def __init__(self, mqtt_as, cfg, log, will_topic):
        print("test double: mqtt_as_adapter.Client()")
        self.ballast = bytearray(4096)
        raise MemoryError("memory allocation failed, allocating 704 bytes")
''',
}


def double_path(tmp_path, where, *more):
    d = tmp_path / "double"
    d.mkdir()
    (d / "mqtt_as_adapter.py").write_text(DOUBLES[where])
    return os.pathsep.join([str(d), *more, ".frozen", str(FIRMWARE), str(MPY_SCRIPTS / "fake_mqtt_as"),
                            str(MPY_SCRIPTS)])


@pytest.mark.parametrize("where", sorted(DOUBLES))
def test_memory_error_falls_back_once_and_frees_the_attempt(tmp_path, where):
    cfg = {"wifi": {"ssid": "n"}, "mqtt": {"host": "h", "backend": "auto"}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    code = ("import sys, config, bridge; c, p = config.load(%r); b = bridge.from_config(c, print); "
            "print('client', b.client.name); print('backend', c['mqtt']['backend']); "
            "print('left', [m for m in ('mqtt_as', 'mqtt_as_adapter') if m in sys.modules])"
            % str(tmp_path / "c.json"))
    r = subprocess.run([micropython_path(), "-X", "heapsize=256k", "-c", code], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, MICROPYPATH=double_path(tmp_path, where)))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    said = [l for l in r.stdout.splitlines() if "mqtt_as could not be loaded" in l]
    assert len(said) == 1 and "MemoryError" in said[0] and "using the built-in MQTT client" in said[0], out
    assert "client builtin" in r.stdout and "backend builtin" in r.stdout, out
    assert "left []" in r.stdout, out  # nothing of the failed attempt stays importable or resident


class MainLoop(LoggedProcess):
    """bridge_main.run() (via main.py) on the fake board, its P1 line a TCP server here."""

    WAIT_S = 20

    def __init__(self, tmp_path, path, cfg):
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(20)
        env = dict(os.environ, MICROPYPATH=path)
        self._collect(subprocess.Popen(
            [micropython_path(), "-X", "heapsize=256k", str(MPY_SCRIPTS / "run_main_loop.py"), "127.0.0.1",
             str(self.srv.getsockname()[1])], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT))

    def p1_line(self):
        conn, _ = self.srv.accept()
        return conn

    def kill(self):
        self._end()
        self.srv.close()


@pytest.mark.parametrize("where", sorted(DOUBLES))
def test_the_fallback_holds_across_an_application_restart(tmp_path, broker, where):
    sub = Subscriber(broker)
    board = MainLoop(tmp_path, double_path(tmp_path, where, str(MPY_SCRIPTS / "fakeboard")),
                     bridge_config(broker, backend="auto"))
    try:
        p1 = board.p1_line()
        board.wait_line("bridge: mqtt connected to")
        p1.sendall(SX)
        assert collect_latest(sub, board, expected(SX)) == expected(SX)
        # A fault the application cannot handle: bridge_main restarts it (after 5 s).
        p1.close()
        p1 = board.p1_line()
        board.wait_line("bridge: application crashed: RuntimeError fake UART: P1 line cut")
        board.wait_line("bridge: mqtt connected to", count=2)
        p1.sendall(SAG)
        assert collect_latest(sub, board, expected(SAG)) == expected(SAG)
        out = board.output()
        # The second start went straight to the built-in client: the double was
        # imported (and, "construct", built) once, and said so once.
        assert board.count("test double: import mqtt_as_adapter") == 1, out
        assert board.count("test double: mqtt_as_adapter.Client()") == (where == "construct"), out
        assert board.count("mqtt_as could not be loaded (MemoryError") == 1, out
        assert board.count("application crashed") == 1, out
        assert "(mqtt_as)" not in out, out
    finally:
        board.kill()
        sub.close()
