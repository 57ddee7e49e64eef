"""Pick the bridge's MQTT backend: mqtt_as when it is installed, else mqtt_min.

Both backends give the bridge the same small interface:
  up, down          asyncio.Event: set on (re)connect / on a drop; the user clears them
  isconnected()     True while the broker link is up
  await publish(topic, msg, retain=False, qos=0) -> bool
                    waits while disconnected (and, QoS 1, while the window is full);
                    msg may be a function returning the message, called when it
                    can go out (the status describes the moment it is sent)
  await run()       the connection task: connect, keep connected, reconnect; forever
  reconnect(why)    drop the broker link now and connect again (the bridge's
                    liveness check: why it gave up on the link, for the log)
  stats()           (connects, published, pubacks, lost)
  name              "builtin" or "mqtt_as"
  manages_wifi      True when the backend (re)connects WiFi itself
"""


def _mqtt_as(cfg, log, will_topic):
    # In a frame of its own: when it raises, nothing of the attempt is left on
    # make_client's stack to keep the GC from reclaiming it.
    import mqtt_as
    import mqtt_as_adapter

    return mqtt_as_adapter.Client(mqtt_as, cfg, log, will_topic)


def make_client(cfg, log, will_topic, pktbuf=400):
    """A client for cfg (config.validate() output); will_topic is the LWT topic
    (str) on which the broker publishes a retained "offline"; pktbuf is the
    longest packet the caller publishes (the built-in client preallocates it)."""
    m = cfg["mqtt"]
    backend = m["backend"]
    if backend != "builtin":
        failed = None
        try:
            return _mqtt_as(cfg, log, will_topic)
        except ImportError:
            if backend == "mqtt_as":
                log("mqtt_as not installed; using the built-in MQTT client")
        except Exception as e:  # noqa: BLE001 - above all MemoryError: in import mqtt_as (as source it is too
            # big to compile here), import mqtt_as_adapter or building the client, wherever the heap ran out
            failed = e
        if failed is not None:
            # Free what the attempt allocated before anything else (the log line
            # and the built-in client need heap): modules imported, or half
            # imported, for it, and whatever its objects held.
            import gc
            import sys

            for name in ("mqtt_as_adapter", "mqtt_as"):
                sys.modules.pop(name, None)
            gc.collect()
            log("mqtt_as could not be loaded (%s: %s); using the built-in MQTT client. Install it as .mpy "
                "or frozen (bridge_firmware/README.md)" % (type(failed).__name__, failed))
            failed = None
            # Said once: bridge_main keeps the backend the application used, so an
            # application restart does not try (and fail) again.
            m["backend"] = "builtin"
    from mqtt_min import MQTTClient, MAX_INFLIGHT

    def b(s):
        return None if s is None else s.encode()

    c = MQTTClient(
        m["host"], m["port"], client_id=b(m["client_id"]), user=b(m["user"]), password=b(m["password"]),
        keepalive=m["keepalive"], will_topic=b(will_topic), will_msg=b"offline", will_retain=True, log=log,
        backoff_max_ms=m["backoff_max_ms"], timeout_ms=m["timeout_ms"],
        max_inflight=m["max_inflight"] or MAX_INFLIGHT, pktbuf=pktbuf)
    return c
