"""The MQTT side of the rig, shared by the rig and the oracle: a real mosquitto
per run (broker), a real paho-mqtt subscriber (subscriber), and the record of
one message it received (message). Nothing here knows a board."""
