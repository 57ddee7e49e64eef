"""A P1 reader in the seed's style, kept only as a benchmark baseline (MicroPython).

What makes it "seed style" (docs/ARCHITECTURE.md section 4 explains why it costs):
  * one readline() per line from a stream: every line is a new bytes object,
    including the 1 KB 0xFF consumer-message line of the SX631;
  * a compiled regex match per line to get the OBIS code and the value, plus the
    match object and group slices it creates;
  * one [topic, value, unit] list per value, appended to a list queue;
  * the CRC computed per line over the line bytes (table-driven, like the bridge,
    so the comparison is about allocation and per-line work, not CRC speed).
It keeps bytes throughout: decoding the 0xFF line would raise UnicodeError on
MicroPython, and that failure is not what the benchmark is about.

Usage: r = SeedStyleReader({b"1-0:1.8.0": b"p1/positive_energy_total", ...})
       n = r.read_telegram(stream)  # values queued (0 on CRC error), None at EOF
       r.queue                      # [[topic, value, unit], ...] until someone drains it
"""

import re
from array import array

_HEAD = 64  # bytes of a line given to the regex (see read_telegram)
_COSEM = re.compile(b"^([0-9]+-[0-9]+:[0-9]+\\.[0-9]+\\.[0-9]+)\\(([^)]*)\\)")


def _mktable():
    t = array("H")
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t.append(c)
    return t


_TAB = _mktable()


def crc16(data, crc=0):
    tab = _TAB
    for b in data:
        crc = (crc >> 8) ^ tab[(crc ^ b) & 0xFF]
    return crc


class SeedStyleReader:
    def __init__(self, topics):
        self.topics = topics  # OBIS text (bytes) -> full topic (bytes), built once
        self.queue = []
        self.telegrams_ok = 0
        self.crc_errors = 0

    def read_telegram(self, stream):
        """Read lines up to and including the next '!' line; queue its values if the
        CRC matches. Returns the number of values queued, or None at end of stream."""
        pending = None
        crc = 0
        while True:
            line = stream.readline()
            if not line:
                return None
            if line.startswith(b"/"):
                pending = []
                crc = crc16(line)
                continue
            if pending is None:
                continue  # outside a telegram
            if line.startswith(b"!"):
                crc = crc16(b"!", crc)
                try:
                    ok = int(line[1:5], 16) == crc
                except ValueError:
                    ok = False
                if ok:
                    self.telegrams_ok += 1
                    self.queue.extend(pending)
                    return len(pending)
                self.crc_errors += 1
                return 0
            crc = crc16(line, crc)
            # MicroPython's re is a recursive backtracker: [^)]* over the SX631's
            # 1 KB 0xFF line raises "maximum recursion depth exceeded". A seed that
            # wants to live matches the head of the line only (one more slice).
            m = _COSEM.match(line[:_HEAD])
            if m is not None:
                topic = self.topics.get(m.group(1))
                if topic is not None:
                    parts = m.group(2).split(b"*")
                    pending.append([topic, parts[0], parts[1] if len(parts) > 1 else b""])
