"""hil/net/broker.py against a real mosquitto and a real paho-mqtt 2.2 client."""

import os
import queue
import threading

import paho.mqtt.client as mqtt
import pytest

from hil.net import broker as broker_mod
from hil.net.broker import BrokerError, Mosquitto


def _client(b, password=None, client_id=""):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(b.user, b.password if password is None else password)
    return c


def _connect(c, b, timeout=5.0):
    """Connect and return the CONNACK reason code (event-based, no sleeps)."""
    done = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()

    c.on_connect = on_connect
    c.connect(b.host, b.port, keepalive=10)
    c.loop_start()
    assert done.wait(timeout), "no CONNACK"
    return result["rc"]


@pytest.fixture
def broker():
    with Mosquitto() as b:
        yield b


def test_authenticated_round_trip(broker):
    got = queue.Queue()
    sub = _client(broker)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: got.put((m.topic, m.payload, m.retain))
    try:
        assert _connect(sub, broker) == 0
        sub.subscribe("rig/#")
        assert subscribed.wait(5)
        pub = _client(broker)
        try:
            assert _connect(pub, broker) == 0
            pub.publish("rig/x", b"42.0").wait_for_publish(5)
        finally:
            pub.loop_stop()
            pub.disconnect()
        assert got.get(timeout=5) == ("rig/x", b"42.0", False)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert "p1bridge" in broker.log_tail(200) or broker.user in broker.log_tail(200)


def test_wrong_password_is_refused(broker):
    c = _client(broker, password="not-" + broker.password)
    try:
        rc = _connect(c, broker)
    finally:
        c.loop_stop()
        c.disconnect()
    assert rc != 0 and rc.is_failure, f"wrong password accepted: {rc}"


def test_anonymous_is_refused(broker):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        rc = _connect(c, broker)
    finally:
        c.loop_stop()
        c.disconnect()
    assert rc.is_failure


def test_stop_leaves_no_process_and_is_idempotent():
    b = Mosquitto()
    b.start()
    pid = b.pid
    assert b.is_running()
    b.pause()  # stop() must cope with a SIGSTOPped broker too
    b.stop()
    b.stop()
    assert not b.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    b.cleanup()


def test_restart_keeps_port_and_accepts_again():
    with Mosquitto() as b:
        port = b.port
        b.restart()
        assert b.port == port
        c = _client(b)
        try:
            assert _connect(c, b) == 0
        finally:
            c.loop_stop()
            c.disconnect()


def test_missing_mosquitto_says_how_to_install(monkeypatch):
    monkeypatch.setattr(broker_mod, "_SBIN_CANDIDATES", ("/nonexistent/mosquitto",))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        Mosquitto().start()


def test_start_failure_carries_log_tail():
    # Occupy the port on the same address: mosquitto fails to bind and exits.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    b = Mosquitto(port=s.getsockname()[1], start_timeout=5)
    try:
        with pytest.raises(BrokerError) as ei:
            b.start()
        msg = str(ei.value)
        assert "tail of" in msg and "Fix:" in msg
        assert "Address already in use" in msg
        assert not b.is_running()
    finally:
        b.cleanup()
        s.close()


def test_a_wrong_password_is_one_line_naming_the_broker_not_a_timeout(broker, capsys):
    """paho drops an exception raised in on_connect; the subscriber hands the
    broker's answer over and says it in one line, and so does `hil monitor`."""
    from hil.net.subscriber import MqttError, Subscriber
    from hil.cli.bench import main as bench_main

    where = f"MQTT broker {broker.host}:{broker.port}"
    with pytest.raises(MqttError) as e:
        Subscriber(broker.host, broker.port, broker.user, "wrong", "p1").start(timeout=30)
    assert str(e.value) == (f"{where} refused the rig's subscriber: Not authorized "
                            "(check the broker user and password in the rig config)")
    assert bench_main(["monitor", "--broker-host", broker.host, "--broker-port", str(broker.port),
                     "--user", broker.user, "--password", "wrong", "--duration", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"error: {e.value}"]



def test_subscriptions_are_read_from_the_log_also_for_client_ids_with_spaces(broker):
    mark = broker.log_mark()
    c = _client(broker, client_id="Zabbix agent 2 6.0.14 45f30fce")
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    try:
        assert _connect(c, broker) == 0
        c.subscribe([("p1/frequency", 0), ("p1/status", 1)])
        assert subscribed.wait(5)
    finally:
        c.loop_stop()
        c.disconnect()
    assert broker.subscribed_topics(mark) == {"p1/frequency", "p1/status"}
    assert broker.subscribed_topics(mark, client_prefix="Zabbix agent 2") == {"p1/frequency", "p1/status"}
    assert broker.subscribed_topics(broker.log_mark()) == set()


def test_the_rigs_subscriber_waits_for_a_quiet_spell_and_drops_what_came_before(broker):
    from hil.net.subscriber import Subscriber

    with Subscriber(broker.host, broker.port, broker.user, broker.password, "q") as sub:
        pub = _client(broker)
        try:
            assert _connect(pub, broker) == 0
            pub.publish("q/kept", b"1", retain=True).wait_for_publish(5)
            stream = threading.Event()

            def publish_for_a_while():
                for i in range(12):  # a bridge still publishing: a value every 50 ms for 0.6 s
                    pub.publish("q/v", str(i).encode()).wait_for_publish(5)
                    stream.set()
                    threading.Event().wait(0.05)

            t = threading.Thread(target=publish_for_a_while)
            t.start()
            assert stream.wait(5) and sub.wait_for(lambda msgs: any(m.name == "v" for m in msgs), timeout=5)
            assert not sub.wait_quiet(0.3, timeout=0.4), "quiet while values still came every 50 ms"
            assert sub.wait_quiet(0.3, timeout=5)
            t.join()
            assert any(m.name == "v" and m.text == "11" for m in sub.snapshot()), "the last value came before quiet"
        finally:
            pub.loop_stop()
            pub.disconnect()
        sub.drop_live()
        assert [m.name for m in sub.snapshot()] == [], "live messages dropped (no retained copy was delivered)"
