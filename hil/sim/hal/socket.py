"""ESP8266 `socket` for the virtual rig: the built-in sockets, with the chip's
getaddrinfo (extmod/modlwip.c over esp-open-lwip's DNS client).

On the chip `getaddrinfo` of a name sends a DNS query and then loops on
poll_sockets() until lwIP's DNS callback fires, so the interpreter (asyncio and
every task in it) is stuck until an answer or lwIP's timeout. Once
`machine.WDT()` exists nothing in that loop feeds the soft watchdog
(ets_loop_iter skips the feed when ets_loop_dont_feed_sw_wdt is set,
ports/esp8266/ets_alt_task.c; machine_wdt.c sets it), so a lookup that outlasts
it resets the board; the virtual watchdog is a wall-clock timer and fires here
too. esp-open-lwip (the `-llwip_open` the port links) schedules one server's
query (lwip/core/dns.c, dns_check_entry, DNS_MAX_RETRIES 4, dns_tmr every
DNS_TMR_INTERVAL 1000 ms): sent at once, again at the 1st, 2nd and 4th timer
tick, given up at the 7th: 6 to 7 s, then OSError(-2). An error answer
(NXDOMAIN) or one without an A record is OSError(-2) at once. It keeps no
cache (dns_lookup is commented out there): every call asks again. A numeric
address needs no DNS (ipaddr_addr) and returns at once.

The LAN's one DNS server is the rig's (hil/sim/dns.py): a numeric address with
port 53 is routed to it, so a firmware's own DNS client reaches it as it would
reach the router. Addresses are the unix port's sockaddr bytes, as the unix
port's sockets need them, not the chip's (host, port) tuples.
"""
from usocket import *  # noqa: F401,F403
import usocket as _s
import os as _os
import time as _time

from _chipc import C as _C  # the HAL is C on the chip: its time is not the chip's computing

_DNS_PORT = int(_os.getenv("HIL_SIM_DNS_PORT") or 0)
_TMR_MS = 1000  # DNS_TMR_INTERVAL
_RESEND_AT = (1, 2, 4)  # timer ticks at which dns_check_entry sends again (tmr = retries)
_GIVE_UP_AT = 7  # the 4th retry (DNS_MAX_RETRIES) with one server
_ERR_ARG = -12  # lwIP 1.4 err.h: an empty or too long name
_NOT_FOUND = -2  # modlwip's status for a failed lookup (lwip_getaddrinfo_cb)
_qid = 0


def _numeric(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p or len(p) > 3 or not p.isdigit() or int(p) > 255:
            return False
    return True


def _entry(host, port):
    # modlwip's one result: (AF_INET, SOCK_STREAM, 0, '', address).
    ai = _s.getaddrinfo(host, port, _s.AF_INET, _s.SOCK_STREAM)[0]
    return [(_s.AF_INET, _s.SOCK_STREAM, 0, "", ai[-1])]


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    with _C:
        if _numeric(host):
            if port == 53 and _DNS_PORT:
                return _entry("127.0.0.1", _DNS_PORT)  # the LAN's DNS server is the rig's
            return _entry(host, port)
        if not host or len(host) >= 256:
            raise OSError(_ERR_ARG)
        return _entry(_lookup(host), port)


def _query(name):
    global _qid
    _qid = (_qid + 1) & 0xFFFF
    q = bytearray(b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")  # recursion desired, one question
    q[0], q[1] = _qid >> 8, _qid & 0xFF
    for label in name.split("."):
        q.append(len(label))
        q.extend(label.encode())
    q.extend(b"\x00\x00\x01\x00\x01")
    return _qid, q


def _answer(r, qid):
    # None: not ours; "": an error or no A record (lwIP: callback with NULL); else the address.
    if len(r) < 12 or (r[0] << 8 | r[1]) != qid or not r[2] & 0x80:
        return None
    if r[3] & 0x0F or not (r[6] << 8 | r[7]):
        return ""
    p = 12
    while r[p]:
        p += 1 + r[p]
    p += 5
    for _ in range(r[6] << 8 | r[7]):
        while p < len(r) and r[p] and r[p] < 0xC0:
            p += 1 + r[p]
        p += 2 if p < len(r) and r[p] >= 0xC0 else 1
        if p + 10 > len(r):
            return ""
        rtype, rclass, rlen = r[p] << 8 | r[p + 1], r[p + 2] << 8 | r[p + 3], r[p + 8] << 8 | r[p + 9]
        p += 10
        if rtype == 1 and rclass == 1 and rlen == 4:
            return "%d.%d.%d.%d" % (r[p], r[p + 1], r[p + 2], r[p + 3])
        p += rlen
    return ""


def _station_up():
    import network

    return network.WLAN(network.STA_IF).isconnected()


def _lookup(name):
    qid, q = _query(name)
    s = _s.socket(_s.AF_INET, _s.SOCK_DGRAM)
    try:
        server = _entry("127.0.0.1", _DNS_PORT)[0][-1]
        # Without an IP the query goes nowhere (dns_send fails, lwIP retries on schedule).
        if _DNS_PORT and _station_up():
            s.sendto(q, server)
        now = _time.ticks_ms()
        first_tick = now - now % _TMR_MS + _TMR_MS  # dns_tmr runs on its own 1 s period
        for tick in range(1, _GIVE_UP_AT + 1):
            deadline = first_tick + (tick - 1) * _TMR_MS
            while True:
                left = _time.ticks_diff(deadline, _time.ticks_ms())
                if left <= 0:
                    break
                s.settimeout(left / 1000)
                try:
                    r = s.recv(512)  # DNS_MSG_SIZE
                except OSError:
                    break  # timed out
                a = _answer(r, qid)
                if a == "":
                    raise OSError(_NOT_FOUND)
                if a:
                    return a
            if tick in _RESEND_AT and _DNS_PORT and _station_up():
                s.sendto(q, server)
        raise OSError(_NOT_FOUND)
    finally:
        s.close()
