"""Temporary smoke: the rig comes up and a telegram reaches MQTT."""
from hil.captures import load_index


def test_smoke(rig, subscriber):
    cap = load_index()[0]
    remote = rig.upload_capture(cap.file, cap.data)
    rig.play([remote], interval_ms=0, count=1)
    assert subscriber.wait_for(lambda msgs: len([m for m in msgs if not m.retain]) >= 35, 10), subscriber.snapshot()
