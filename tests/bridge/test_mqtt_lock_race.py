"""mqtt_min keeps one packet on the wire at a time, also while its lock changes
hands: MicroPython's Lock.locked() is False while the lock is promised to a
waiting task that has not run yet (extmod/asyncio/lock.py: state is that task),
and a publisher that took that for a free lock wrote its packet into the middle
of one the socket had taken only part of (mosquitto: "disconnected due to
malformed packet"; on the chip lwIP's 1,072-byte send buffer makes such partial
writes common). run_lock_race.py stages the handover with a socket that takes
5 bytes of its first write."""
import subprocess

from conftest import ROOT, mpy_cmd, mpy_env


def _packets(stream: bytes) -> list[tuple[int, bytes, bytes]]:
    """(type, topic, payload) of each PUBLISH in stream; AssertionError if it does not parse."""
    out, i = [], 0
    while i < len(stream):
        kind = stream[i] >> 4
        assert kind == 3, f"byte {i}: packet type {kind}, not PUBLISH: {stream.hex()}"
        length, shift, i = 0, 0, i + 1
        while True:
            length |= (stream[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not stream[i - 1] & 0x80:
                break
        body = stream[i:i + length]
        assert len(body) == length, f"truncated packet at byte {i}: {stream.hex()}"
        tl = body[0] << 8 | body[1]
        out.append((kind, bytes(body[2:2 + tl]), bytes(body[2 + tl:])))
        i += length
    return out


def test_a_packet_part_way_out_goes_out_whole_before_the_next():
    done = subprocess.run(mpy_cmd("run_lock_race.py"), env=mpy_env(), capture_output=True, text=True, timeout=60,
                          cwd=str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    stream = bytes.fromhex(done.stdout.strip())
    packets = _packets(stream)
    assert sorted(topic for _, topic, _ in packets) == [b"a/topic", b"b/topic"], packets
    assert all(payload == b"0123456789" for _, _, payload in packets), packets
