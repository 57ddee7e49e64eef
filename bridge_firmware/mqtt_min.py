"""Compact asyncio MQTT 3.1.1 publisher: the bridge's built-in MQTT backend.

Mechanism only: CONNECT (clean session, username/password, retained LWT,
keepalive), PUBLISH QoS 0 and 1, PINGREQ, and a run() task that reconnects with
exponential backoff. It never subscribes. The interface (see mqtt_backend.py):
`up`/`down` events, `isconnected()`, `await publish(topic, msg, retain, qos)`,
`await run()`, `reconnect(why)`, counters.

QoS 1 keeps at most max_inflight PUBLISHes unacknowledged; publish() waits while
the window is full. The default window (48) holds a whole telegram's values
with the status, so a telegram goes out without waiting for one PUBACK: at the
chip's speed each wait costs task switches that delay the last value. A PUBACK (or CONNACK, or a write) that takes longer than
timeout_ms drops the connection. Unacknowledged messages are forgotten on a
drop, never retransmitted: the bridge republishes its latest values after the
reconnect instead, so a dead broker can never make anything pile up here.
"""

from array import array
from micropython import const
from errno import EINPROGRESS
import asyncio
import socket
import time

_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"
_TICK_MS = const(500)  # supervision granularity: keepalive and stuck-write checks
_PINGRESP = const(0xD0)
_RX_MAX = const(4)  # the longest packet a publisher is sent (PUBACK: 2, PINGRESP: 0)
_RX_BUF = const(32)  # bytes read per wake-up: 8 PUBACKs, so a full window costs a read or two
MAX_INFLIGHT = const(48)  # the QoS 1 window when the config sets none (see above)
_RESOLVE_AFTER = const(3)  # failed connects in a row before the broker's name is looked up again
_IO_MS = const(10)  # how often a socket that had nothing to read, or no room to write, is tried again

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3), for log lines a user can act on.
_REFUSED = (
    "",
    "unacceptable protocol version",
    "client id rejected",
    "server unavailable",
    "bad user name or password",
    "not authorised",
)


class MQTTError(Exception):
    """The broker answered, but not with what MQTT 3.1.1 says it should."""


def _varint(buf, pos, n):
    # MQTT remaining length: 7 bits per byte, high bit = more.
    while True:
        b = n & 0x7F
        n >>= 7
        buf[pos] = b | 0x80 if n else b
        pos += 1
        if not n:
            return pos


def _str(buf, pos, s):
    n = len(s)
    buf[pos] = n >> 8
    buf[pos + 1] = n & 0xFF
    buf[pos + 2:pos + 2 + n] = s
    return pos + 2 + n


def _numeric(host):
    # A dotted IPv4 address (str or bytes): getaddrinfo returns it without DNS.
    parts = host.split(b"." if isinstance(host, bytes) else ".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p or len(p) > 3 or not p.isdigit() or int(p) > 255:
            return False
    return True


def _readable(core, s):
    # await _readable(asyncio.core, s): the task sleeps in asyncio's I/O queue
    # until s polls readable, the wait asyncio.Stream.readinto makes. The queue
    # is looked up per wait, as new_event_loop() replaces it.
    yield core._io_queue.queue_read(s)


class MQTTClient:
    name = "builtin"
    manages_wifi = False

    def __init__(self, host, port=1883, client_id=b"p1bridge", user=None, password=None,
                 keepalive=60, will_topic=None, will_msg=None, will_retain=True, log=None,
                 backoff_min_ms=1000, backoff_max_ms=4000, timeout_ms=10000, pktbuf=400,
                 max_inflight=MAX_INFLIGHT):
        self.host = host
        self.port = port
        self.client_id = client_id
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will_topic = will_topic
        self.will_msg = will_msg
        self.will_retain = will_retain
        self.log = log
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.timeout_ms = timeout_ms
        # A PUBLISH is built here and written at once; a longer message goes out
        # after the head built here (see publish()).
        self._pkt = bytearray(pktbuf)
        self.up = asyncio.Event()  # set on every (re)connect; the user clears it
        self.down = asyncio.Event()  # set on every disconnect; the user clears it
        self._ready = asyncio.Event()  # internal: set exactly while connected
        self._fail = asyncio.Event()  # internal: the link is broken
        self._lock = asyncio.Lock()  # one packet on the wire at a time
        self._s = None  # the broker connection: a non-blocking socket, polled (see _read, _write)
        self._rxb = bytearray(_RX_BUF)
        rxm = memoryview(self._rxb)
        # Fixed views, one per length of a partial packet kept at the front:
        # reading allocates nothing.
        self._rx_at = (rxm, rxm[1:], rxm[2:], rxm[3:])
        self._addr = None  # the broker's address (see _address)
        self._fails = 0  # connects failed in a row since it was resolved
        self._connected = False
        self._closing = False
        self._fail_why = None
        self._last_rx = 0
        self._last_ping = 0
        # QoS 1 window: packet id per slot (0 = free). Packet id p lives in slot
        # p % max_inflight, so a PUBACK finds it at once.
        self.max_inflight = max_inflight
        self._pids = array("H", [0] * max_inflight)
        self._nfl = 0
        # Since when the window has waited without a PUBACK: the first send into
        # an empty window, then every PUBACK. One time for all slots, not one
        # per slot (192 B at 48): a PUBACK lost on its own stalls the window
        # when the ring comes round to its slot, which this times out too.
        self._ack_since = 0
        self._pid = 0
        self._window = asyncio.Event()  # set when a window slot frees (or the link drops)
        self.connects = 0
        self.published = 0  # PUBLISH packets handed to TCP
        self.pubacks = 0  # PUBACKs received for them (QoS 1)
        self.failed = 0  # publishes lost because the link broke under the write
        self.unacked = 0  # QoS 1 messages forgotten unacknowledged at a drop
        self._stats = array("i", bytes(16))

    def inflight(self):
        return self._nfl

    def stats(self):
        # A preallocated array, not a tuple: the status is sent without allocating.
        s = self._stats
        s[0] = self.connects
        s[1] = self.published
        s[2] = self.pubacks
        s[3] = self.failed + self.unacked
        return s

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    def isconnected(self):
        return self._connected

    # -- connection ---------------------------------------------------------------
    def _connect_packet(self):
        flags = 0x02  # clean session: the bridge keeps no broker-side state
        payload = 2 + len(self.client_id)
        if self.will_topic is not None:
            flags |= 0x04 | (0x20 if self.will_retain else 0)
            payload += 4 + len(self.will_topic) + len(self.will_msg)
        if self.user is not None:
            flags |= 0x80
            payload += 2 + len(self.user)
            if self.password is not None:
                flags |= 0x40
                payload += 2 + len(self.password)
        rl = 10 + payload
        pkt = bytearray(rl + 5)  # once per connect: allocation is fine here
        pkt[0] = 0x10
        p = _varint(pkt, 1, rl)
        p = _str(pkt, p, b"MQTT")
        pkt[p] = 4  # protocol level 3.1.1
        pkt[p + 1] = flags
        pkt[p + 2] = self.keepalive >> 8
        pkt[p + 3] = self.keepalive & 0xFF
        p = _str(pkt, p + 4, self.client_id)
        if self.will_topic is not None:
            p = _str(pkt, p, self.will_topic)
            p = _str(pkt, p, self.will_msg)
        if self.user is not None:
            p = _str(pkt, p, self.user)
            if self.password is not None:
                p = _str(pkt, p, self.password)
        return memoryview(pkt)[:p]

    async def _address(self):
        # A name is resolved when there is no address yet, and again after
        # _RESOLVE_AFTER failed connects in a row (a broker that moved). Not
        # with socket.getaddrinfo: on the chip it blocks the event loop until
        # lwIP answers or gives up, ~7 s, and the watchdog would reset the
        # board (dnsq). A numeric address needs no DNS: getaddrinfo returns it
        # at once; a failed lookup keeps the address known before.
        host = self.host
        numeric = _numeric(host)
        if self._addr is not None and (numeric or self._fails < _RESOLVE_AFTER):
            return self._addr
        if not numeric:
            import dnsq  # only for a name: a numeric broker costs no heap for it

            try:
                host = await dnsq.resolve(host)
            except OSError:
                if self._addr is None:
                    raise
                self._fails = 0  # the next lookup after the next few failed connects
                return self._addr
        self._fails = 0
        self._addr = socket.getaddrinfo(host, self.port, 0, socket.SOCK_STREAM)[0]
        return self._addr

    def _socket(self, ai):
        s = socket.socket(ai[0], ai[1], ai[2])
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != EINPROGRESS:
                s.close()
                raise
        return s

    async def _open(self):
        s = self._socket(await self._address())
        try:
            # The CONNECT goes out once the TCP connect is done (the socket is
            # writable); both it and the CONNACK have timeout_ms.
            if not await self._write_on(s, self._connect_packet(), None):
                raise MQTTError("CONNECT not taken within %d ms" % self.timeout_ms)
            ack = self._rxb
            if not await self._read(s, memoryview(ack), 4, time.ticks_ms()):
                raise MQTTError("no CONNACK within %d ms" % self.timeout_ms)
            if ack[0] != _CONNACK or ack[1] != 2:
                raise MQTTError("unexpected reply to CONNECT: %02x" % ack[0])
            if ack[3]:
                why = _REFUSED[ack[3]] if ack[3] < len(_REFUSED) else "code %d" % ack[3]
                raise MQTTError("broker refused connection: " + why)
        except BaseException:
            s.close()
            raise
        return s

    async def _read(self, s, view, n, since):
        """Fill view[:n] from s (the CONNACK, once per connect). True when done;
        False when timeout_ms from `since` passed first. Polled, since a wait
        for readability would not see the deadline pass. Raises EOFError when
        the broker closed the connection."""
        got = 0
        while got < n:
            k = s.readinto(view[got:n])
            if k is None:
                if time.ticks_diff(time.ticks_ms(), since) > self.timeout_ms:
                    return False
                await asyncio.sleep_ms(_IO_MS)
            elif k == 0:
                raise EOFError
            else:
                got += k
        return True

    async def run(self):
        """Connect, supervise, reconnect with backoff; forever (until disconnect())."""
        delay = self.backoff_min_ms
        while not self._closing:
            try:
                self._s = await self._open()
            except (OSError, EOFError, MQTTError) as e:
                # EOFError: the connection closed before CONNACK (a broker
                # shutting down, or a proxy whose broker is gone).
                self._fails += 1
                self._say("mqtt connect to %s:%d failed: %s %s; retry in %d ms"
                          % (self.host, self.port, type(e).__name__, e, delay))
                await asyncio.sleep_ms(delay)
                delay = min(delay * 2, self.backoff_max_ms)
                continue
            delay = self.backoff_min_ms
            self.connects += 1
            self._last_rx = self._last_ping = time.ticks_ms()
            self._fail.clear()
            self._fail_why = None
            self._connected = True
            self._ready.set()
            self.down.clear()
            self.up.set()
            self._say("mqtt connected to %s:%d" % (self.host, self.port))
            rx = asyncio.create_task(self._rx())
            try:
                why = await self._supervise()
            finally:
                rx.cancel()
                self._drop()
            self._say("mqtt disconnected: " + why)

    def _drop(self):
        self._connected = False
        self._ready.clear()
        self.up.clear()
        self.down.set()
        # Latest-value semantics: what was in flight is forgotten, not resent.
        self.unacked += self._nfl
        self._nfl = 0
        for i in range(self.max_inflight):
            self._pids[i] = 0
        self._window.set()
        if self._s is not None:
            try:
                self._s.close()  # a write polling this socket sees it gone and gives up
            except OSError:
                pass
        self._s = None

    def reconnect(self, why):
        """Drop the link and connect again (at once, not after a backoff; while
        the link is down run() is trying already); why is logged with the drop.
        Also how the client's own checks give up on a link."""
        if self._fail_why is None:
            self._fail_why = why
        self._fail.set()

    async def _supervise(self):
        ka = self.keepalive * 1000
        while True:
            # A plain sleep: wait_for_ms would allocate a task every tick; a
            # broken link is noticed within one tick instead of at once.
            await asyncio.sleep_ms(_TICK_MS)
            if self._fail.is_set():
                return self._fail_why or "link failed"
            if self._closing:
                return "closing"
            now = time.ticks_ms()
            if self._nfl and time.ticks_diff(now, self._ack_since) > self.timeout_ms:
                return "no PUBACK for %d ms (%d in flight)" % (self.timeout_ms, self._nfl)
            if ka:
                if time.ticks_diff(now, self._last_rx) > ka:
                    return "no reply from broker within keepalive (%d s)" % self.keepalive
                if time.ticks_diff(now, self._last_ping) >= ka // 2 and not self._lock.locked():
                    self._last_ping = now
                    # In its own task: the supervisor must never block on the socket.
                    asyncio.create_task(self._send(_PINGREQ))

    async def _rx(self):
        # Reads whatever the broker sent, up to _RX_BUF bytes at once, and
        # handles every whole packet in it: a window of PUBACKs costs the chip
        # one wake-up, not two reads per PUBACK.
        s = self._s
        b = self._rxb
        at = self._rx_at
        have = 0  # bytes of a packet not yet whole, kept at the front of b
        try:
            while True:
                k = s.readinto(at[have])
                if k is None:
                    # Sleep in asyncio's I/O queue until the socket is readable:
                    # it wakes the moment a PUBACK frees a window slot, and costs
                    # the chip no task switch while the broker is quiet. A
                    # dropped link cancels this task (run()), which takes it off
                    # the I/O queue. asyncio.StreamReader would do the same wait,
                    # but its module costs ~860 B of heap (p1reader._readable).
                    await _readable(asyncio.core, s)
                    continue
                if not k:
                    raise EOFError
                have += k
                i = 0
                while have - i >= 2:
                    kind = b[i] & 0xF0
                    n = b[i + 1]
                    # Only PUBACK and PINGRESP come to a client that never
                    # subscribes; anything else (or too long to be one of them: a
                    # length that takes a second byte is at least 128) is a broken
                    # or hostile peer: drop the link rather than read or buffer it.
                    if n & 0x80 or n > _RX_MAX - 2 or (kind != _PUBACK and kind != _PINGRESP):
                        self.reconnect("unexpected packet from broker: type %02x, %s%d bytes"
                                     % (b[i], "at least " if n & 0x80 else "", 128 if n & 0x80 else n))
                        return
                    if have - i < 2 + n:
                        break
                    if kind == _PUBACK and n == 2:
                        self._acked((b[i + 2] << 8) | b[i + 3])
                    i += 2 + n
                if i:
                    self._last_rx = time.ticks_ms()
                    have -= i
                    for j in range(have):
                        b[j] = b[i + j]
        except (OSError, EOFError) as e:
            if s is self._s:  # not our own _drop() closing it
                self.reconnect("connection lost (%s)" % (type(e).__name__,))

    # -- sending ------------------------------------------------------------------
    async def _send(self, data):
        """Write one whole packet under the lock. Returns False if the link broke."""
        async with self._lock:
            return await self._write(data)

    async def _write(self, data, more=None):
        # Caller holds the lock. data (and more, if given) make one packet.
        s = self._s
        if s is None:
            return False
        try:
            if await self._write_on(s, data, more):
                return s is self._s
            if s is self._s:  # else it was dropped meanwhile, for a reason of its own
                self.reconnect("write stalled for %d ms" % self.timeout_ms)
        except OSError as e:
            if s is self._s:
                self.reconnect("write failed (%s)" % e)
        return False

    async def _write_on(self, s, data, more):
        """Write data, then more, whole to the non-blocking socket s, polled.
        False when s takes no byte for timeout_ms (a stalled broker must not
        hold the lock) or when s is dropped meanwhile; OSError when it fails."""
        ours = s is self._s  # False while _open() connects it
        for part in (data, more):
            if part is None:
                continue
            view = part
            since = time.ticks_ms()
            while True:
                k = s.write(view)
                if k is not None and k >= len(view):
                    break
                if k:
                    view = memoryview(view)[k:]  # rare: a partial write
                    since = time.ticks_ms()
                elif time.ticks_diff(time.ticks_ms(), since) > self.timeout_ms:
                    return False
                await asyncio.sleep_ms(_IO_MS)
                if ours and s is not self._s:
                    return False  # dropped meanwhile
        return True

    def _window_full(self):
        # The next packet id's slot is still taken, or max_inflight are out.
        return self._nfl >= self.max_inflight or self._pids[(self._pid % 65535 + 1) % self.max_inflight]

    def _acked(self, pid):
        i = pid % self.max_inflight
        if self._pids[i] == pid:
            self._pids[i] = 0
            self._nfl -= 1
            self._ack_since = time.ticks_ms()
            self.pubacks += 1
            self._window.set()

    async def publish(self, topic, msg, retain=False, qos=0):
        """Publish once, QoS 0 or 1. Waits while disconnected and, for QoS 1, while
        max_inflight messages are unacknowledged. Returns True when the packet was
        handed to TCP (the PUBACK comes later), False if the link broke first.
        msg may be a function returning the message: it is called once the
        packet can go out, so a message that describes the bridge (the status)
        is as new as the packet, however long the wait for the broker was."""
        lock = self._lock
        while True:
            while not self._connected:
                await self._ready.wait()
            if qos and self._window_full():
                # Window full: wait for a PUBACK. A PUBACK that never comes is the
                # supervisor's business (timeout_ms), which also wakes us here.
                self._window.clear()
                await self._window.wait()
                continue
            # One packet on the wire at a time, so the lock for every packet (a
            # free one is taken without yielding). Not lock.locked(): it is False
            # while the lock is promised to a waiting task that has not run yet
            # (asyncio/lock.py), and a packet written then landed inside one the
            # socket had taken only part of.
            await lock.acquire()
            if self._connected and not (qos and self._window_full()):
                break
            lock.release()
        try:
            # The lock is ours, so is the packet buffer.
            if callable(msg):
                msg = msg()
            tl = len(topic)
            ml = len(msg)
            pkt = self._pkt
            if 5 + 2 + tl + 2 > len(pkt):
                pkt = bytearray(5 + 2 + tl + 2)  # a topic longer than the buffer: never from the bridge
            pkt[0] = _PUBLISH | (2 if qos else 0) | (1 if retain else 0)
            p = _varint(pkt, 1, 2 + tl + ml + (2 if qos else 0))
            p = _str(pkt, p, topic)
            if qos:
                self._pid = pid = self._pid % 65535 + 1
                pkt[p] = pid >> 8
                pkt[p + 1] = pid & 0xFF
                p += 2
                self._pids[pid % self.max_inflight] = pid  # free: checked above
                if not self._nfl:
                    self._ack_since = time.ticks_ms()
                self._nfl += 1
            more = None
            if p + ml <= len(pkt):
                pkt[p:p + ml] = msg
                p += ml
            else:
                more = msg  # longer than the buffer (the status JSON): written after the head, not copied
            data = memoryview(pkt)[:p]
            s = self._s
            ok = True
            try:
                # Most packets go out whole at once (lwIP has room): no coroutine
                # per write. The rest of a packet the socket took only part of
                # goes out polled, the lock still ours.
                k = s.write(data) if more is None else 0
                if k is None or k < p:
                    ok = await self._write(data[k:] if k else data, more)
            except OSError as e:
                ok = False
                if s is self._s:
                    self.reconnect("write failed (%s)" % e)
        finally:
            lock.release()
        if ok:
            self.published += 1
        else:
            self.failed += 1
        return ok

    async def disconnect(self):
        """Clean DISCONNECT (the broker then does NOT send the LWT) and stop run()."""
        self._closing = True
        if self._connected:
            await self._send(_DISCONNECT)
            self.reconnect("disconnect requested")
