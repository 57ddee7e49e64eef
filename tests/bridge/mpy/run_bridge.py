# Run the bridge application exactly as main.py builds it (bridge.from_config:
# backend choice, Bridge, reader, publisher, health) on the unix port: P1 bytes
# come from a TCP socket standing in for UART0 (same readinto/poll interface),
# log lines go to stdout exactly as they would go to UART0 TX.
# usage: run_bridge.py <config.json path> <p1 host> <p1 port>
import sys
import socket
import asyncio
import gc

import bridge
import config

cfg, problems = config.load(sys.argv[1])
if problems:
    print("run_bridge: config problems: %r" % problems)
    sys.exit(2)
p1host, p1port = sys.argv[2], int(sys.argv[3])


class Out:
    # Stands in for UART0 TX: unbuffered bytes on stdout.
    def write(self, b):
        sys.stdout.buffer.write(b)


log = bridge.make_log(Out())
p1 = socket.socket()
p1.connect(socket.getaddrinfo(p1host, p1port)[0][-1])
p1.setblocking(False)
app = bridge.from_config(cfg, log, 0)
gc.collect()
log("started, free %d" % gc.mem_free())
try:
    asyncio.run(app.run(p1))
finally:
    asyncio.new_event_loop()
