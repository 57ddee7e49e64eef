"""A DNS lookup that does not block the event loop: one A query over UDP to
the station's DNS server, its answer awaited in asyncio.

Why not socket.getaddrinfo: on the ESP8266 it blocks the interpreter until
lwIP answers or gives up (extmod/modlwip.c), 6 to 7 s for a server that does
not answer, and nothing feeds the watchdog meanwhile (machine.WDT stops the
idle loop's feed): the board would reset. Written by hand since micropython-lib
has no asyncio resolver (its udnspkt only builds packets, through io.BytesIO).

Only while the station has an IP: before that a query goes nowhere.
"""

import asyncio
import network
import socket
import time

_MSG = 512  # DNS_MSG_SIZE, as lwIP reads an answer; only while a lookup runs
_WAIT_MS = (1000, 2000, 4000)  # per try, then give up: about lwIP's 7 s
_POLL_MS = 20
_qid = 0


def _answer(r, n, qid):
    # The first A record of an answer to query qid in r[:n]; None: not ours;
    # "": ours without an address (NXDOMAIN, an error, no A record).
    if n < 12 or (r[0] << 8 | r[1]) != qid or not r[2] & 0x80:
        return None
    if r[3] & 0x0F:
        return ""
    p = 12
    while p < n and r[p]:
        p += 1 + r[p]
    p += 5  # the zero label, QTYPE, QCLASS
    for _ in range(r[6] << 8 | r[7]):
        while p < n and 0 < r[p] < 0xC0:
            p += 1 + r[p]
        p += 2 if p < n and r[p] >= 0xC0 else 1
        if p + 10 > n:
            return ""
        kind, ln = r[p] << 8 | r[p + 1], r[p + 8] << 8 | r[p + 9]
        p += 10
        if kind == 1 and ln == 4 and p + 4 <= n:
            return "%d.%d.%d.%d" % (r[p], r[p + 1], r[p + 2], r[p + 3])
        p += ln
    return ""


async def resolve(name):
    """The IPv4 address of name as text; OSError when it cannot be had now."""
    global _qid
    sta = network.WLAN(network.STA_IF)
    if not sta.isconnected():
        raise OSError("no WiFi for DNS")
    server = socket.getaddrinfo(sta.ifconfig()[3], 53)[0][-1]  # numeric: no DNS
    _qid = (_qid + 1) & 0xFFFF
    buf = bytearray(_MSG)
    buf[0] = _qid >> 8
    buf[1] = _qid & 0xFF
    buf[2] = 1  # recursion desired
    buf[5] = 1  # one question
    p = 12
    for label in name.split(b"." if isinstance(name, bytes) else "."):
        ln = len(label)
        buf[p] = ln
        buf[p + 1:p + 1 + ln] = label if isinstance(label, bytes) else label.encode()
        p += 1 + ln
    buf[p + 2] = 1  # QTYPE A (after the zero label and QTYPE's high byte)
    buf[p + 4] = 1  # QCLASS IN
    query = bytes(buf[:p + 5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        for wait in _WAIT_MS:
            s.sendto(query, server)
            t0 = time.ticks_ms()
            while time.ticks_diff(time.ticks_ms(), t0) < wait:
                n = s.readinto(buf)
                if n:
                    ip = _answer(buf, n, _qid)
                    if ip:
                        return ip
                    if ip == "":
                        raise OSError("no address for %s" % name)
                await asyncio.sleep_ms(_POLL_MS)
    finally:
        s.close()
    raise OSError("no DNS answer for %s" % name)
