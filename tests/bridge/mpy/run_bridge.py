# Run the bridge application (bridge.Bridge + mqtt_min) on the unix port: P1 bytes
# come from a TCP socket standing in for UART0 (same readinto/poll interface),
# log lines go to stdout exactly as they would go to UART0 TX.
# usage: run_bridge.py <mqtt host> <port> <user> <password> <base> <p1 host> <p1 port> [keepalive]
import sys
import socket
import asyncio

import bridge
from mqtt_min import MQTTClient

host, port, user, pw, base, p1host, p1port = sys.argv[1:8]
keepalive = int(sys.argv[8]) if len(sys.argv) > 8 else 60


class Out:
    # Stands in for UART0 TX: unbuffered bytes on stdout.
    def write(self, b):
        sys.stdout.buffer.write(b)


log = bridge.make_log(Out())
client = MQTTClient(host, int(port), client_id=b"p1bridge-test", user=user.encode(), password=pw.encode(),
                    keepalive=keepalive, will_topic=(base + "/online").encode(), will_msg=b"offline",
                    will_retain=True, log=log, backoff_min_ms=200, backoff_max_ms=1000)
p1 = socket.socket()
p1.connect(socket.getaddrinfo(p1host, int(p1port))[0][-1])
p1.setblocking(False)
app = bridge.Bridge(client, base, log)
try:
    asyncio.run(app.run(p1))
finally:
    asyncio.new_event_loop()
