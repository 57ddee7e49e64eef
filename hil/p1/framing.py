"""Host-side P1 telegram utilities (CPython): bytes in, bytes out.

A P1 telegram (DSMR 5 / Hungarian E.ON profile) is::

    /XXX5IDENT\\r\\n            header line
    \\r\\n                      blank line
    A-B:C.D.E(value)[(value)...]\\r\\n   COSEM lines
    !CRCH\\r\\n                 '!' + CRC16 as 4 upper-case hex digits

The CRC is CRC16/ARC (poly 0xA001 reflected, init 0x0000, no final xor) over every
byte from ``/`` through ``!`` inclusive.

Everything here works on ``bytes`` and never decodes a whole telegram: the SX631
sends ``0-0:96.13.0(`` + 1024 bytes of 0xFF + ``)``, which is not text in any
encoding a board can decode. Only OBIS codes (ASCII by construction) are decoded.

These are tools for the rig (capture handling, fault injection, checks). They are
not the firmware's parser and are never used to compute expected MQTT output; that
is :mod:`hil.oracle.dsmr`'s job, via dsmr-parser.
"""

import re

from dsmr_parser.parsers import TelegramParser

METER_INTERVAL_MS = 10_000
"""Start to start, the SX631's telegrams: one every 10 s, each a burst of ~0.21 s."""

__all__ = [
    "P1Error",
    "FrameError",
    "ObisNotFoundError",
    "crc16",
    "split_telegrams",
    "telegram_crc_ok",
    "with_crc",
    "cosem_lines",
    "cosem_values",
    "replace_value",
    "corrupt_byte",
    "validate",
]


class P1Error(Exception):
    """Base class for errors raised by this module."""


class FrameError(P1Error, ValueError):
    """The bytes are not a P1 frame of the shape the operation needs."""


class ObisNotFoundError(P1Error, LookupError):
    """The telegram has no line for the requested OBIS code."""


# A line starting with '/' or '!' (multiline: also matches at offset 0).
_HEADER_RE = re.compile(rb"^/", re.MULTILINE)
_END_RE = re.compile(rb"^!", re.MULTILINE)
_CRC_FIELD_RE = re.compile(rb"[0-9A-F]{4}\Z")  # as DSMR writes it (validate)
_CRC_VALUE_RE = re.compile(rb"[0-9A-Fa-f]{1,4}\Z")  # as the bridge reads it: unpadded or lower-case too
# One COSEM line without its CRLF: OBIS code, then one or more (value) groups.
# A value is any bytes but parentheses and line breaks (the 0xFF message is fine).
_OBIS_RE = rb"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}"
_COSEM_LINE_RE = re.compile(rb"(" + _OBIS_RE + rb")((?:\([^()\r\n]*\))+)\Z")
_VALUE_GROUP_RE = re.compile(rb"\(([^()\r\n]*)\)")
_NUMBER_RE = re.compile(rb"-?\d+(?:\.\d+)?\Z")
_SHOW = 60  # bytes of a bad line shown in a message


def crc16(data):
    """CRC16/ARC of ``data`` (bytes-like).

    Uses dsmr-parser's own table-driven CRC (``TelegramParser.crc16``), which works
    on ``str`` through ``ord()``; latin-1 maps every byte to the code point of the
    same value, so the result is exactly the CRC of the bytes.
    """
    return TelegramParser.crc16(bytes(data).decode("latin-1"))


def _frame_bounds(telegram):
    """(start, bang) offsets of the first '/' line and the first '!' line after it."""
    head = _HEADER_RE.search(telegram)
    if head is None:
        raise FrameError("no '/' header line")
    end = _END_RE.search(telegram, head.start() + 1)
    if end is None:
        raise FrameError("no '!' end line")
    return head.start(), end.start()


def _crc_field(telegram, bang):
    """The bytes between '!' and the end of its line, without CR/LF."""
    eol = telegram.find(b"\n", bang)
    field = telegram[bang + 1:] if eol < 0 else telegram[bang + 1:eol]
    return field.rstrip(b"\r")


def split_telegrams(data):
    """Split a byte stream into complete frames, each from '/' through the CRC's LF.

    Bytes before the first '/' line, between frames and after the last complete
    frame are skipped. A frame cut short by a new '/' line (a meter restart) is
    dropped and scanning resumes at the new header, like a receiver resyncs. The
    CRC is not checked here (see :func:`telegram_crc_ok`).
    """
    data = bytes(data)
    frames = []
    pos = 0
    while True:
        head = _HEADER_RE.search(data, pos)
        if head is None:
            break
        end = _END_RE.search(data, head.start() + 1)
        if end is None:
            break
        restart = _HEADER_RE.search(data, head.start() + 1, end.start())
        if restart is not None:
            pos = restart.start()
            continue
        eol = data.find(b"\n", end.start())
        if eol < 0:
            break
        frames.append(data[head.start():eol + 1])
        pos = eol + 1
    return frames


def telegram_crc_ok(telegram):
    """True when the telegram's CRC field matches its content: 1-4 hex digits,
    either case, as a meter that does not zero-pad writes it and the bridge reads it
    (:func:`validate` reports any form other than 4 upper-case digits)."""
    telegram = bytes(telegram)
    try:
        start, bang = _frame_bounds(telegram)
    except FrameError:
        return False
    field = _crc_field(telegram, bang)
    if not _CRC_VALUE_RE.match(field):
        return False
    return int(field, 16) == crc16(telegram[start:bang + 1])


def with_crc(body_through_bang):
    """Complete a frame: append the CRC of ``body`` as 4 upper-case hex + CRLF.

    ``body_through_bang`` runs from '/' through the final '!' inclusive.
    """
    body = bytes(body_through_bang)
    if not body.startswith(b"/"):
        raise FrameError("body must start with '/', got %r" % body[:_SHOW])
    if not body.endswith(b"!"):
        raise FrameError("body must end with '!', got %r" % body[-_SHOW:])
    return body + b"%04X\r\n" % crc16(body)


def _lines(telegram, start, bang):
    """(offset, line) for each line of the frame body between '/' and '!', no EOL."""
    pos = start
    while pos < bang:
        eol = telegram.find(b"\n", pos, bang)
        if eol < 0:
            eol = bang
        yield pos, telegram[pos:eol].rstrip(b"\r")
        pos = eol + 1


def cosem_lines(telegram):
    """(OBIS code (str), raw value groups (list of bytes, unit included)) for every
    COSEM line, in telegram order, a repeated OBIS code as often as it comes. Lines
    that are not COSEM lines are skipped (see :func:`validate` for reporting them).
    """
    telegram = bytes(telegram)
    start, bang = _frame_bounds(telegram)
    for _, line in _lines(telegram, start, bang):
        m = _COSEM_LINE_RE.match(line)
        if m is not None:
            yield m.group(1).decode("ascii"), _VALUE_GROUP_RE.findall(m.group(2))


def cosem_values(telegram):
    """OBIS code (str) -> raw value groups (list of bytes, unit included) per line.

    The last line wins when an OBIS code repeats: that is how dsmr-parser, the
    oracle, reads a telegram (its ``Telegram`` attributes, see
    :mod:`hil.oracle.dsmr`), and how the bridge publishes it.
    """
    return dict(cosem_lines(telegram))


def _first_value_span(telegram, obis):
    """Byte span of the first value group's contents on the first ``obis`` line."""
    if isinstance(obis, str):
        obis = obis.encode("ascii")
    start, bang = _frame_bounds(telegram)
    for offset, line in _lines(telegram, start, bang):
        if line.startswith(obis + b"("):
            open_at = offset + len(obis)
            close_at = telegram.find(b")", open_at, offset + len(line))
            if close_at < 0:
                raise FrameError("line for %s has no ')'" % obis.decode("ascii"))
            return open_at + 1, close_at
    raise ObisNotFoundError("no line for OBIS %s" % obis.decode("ascii"))


def replace_value(telegram, obis, new_value_text):
    """Rewrite the first value of the first ``obis`` line; keep its unit; new CRC.

    ``new_value_text`` is the number only (``"240.2"``); the old ``*unit`` suffix is
    kept. The result is a single frame ending in a freshly computed CRC + CRLF.
    """
    telegram = bytes(telegram)
    new = new_value_text.encode("ascii") if isinstance(new_value_text, str) else bytes(new_value_text)
    if any(c in new for c in b"()*\r\n!"):
        raise ValueError("new value must not contain '(', ')', '*', '!' or line breaks: %r" % new)
    start, bang = _frame_bounds(telegram)
    lo, hi = _first_value_span(telegram, obis)
    old = telegram[lo:hi]
    star = old.find(b"*")
    unit = b"" if star < 0 else old[star:]
    return with_crc(telegram[start:lo] + new + unit + telegram[hi:bang + 1])


def _default_corrupt_index(telegram):
    """Last digit of the first numeric value (1-0:1.8.0's if present)."""
    start, bang = _frame_bounds(telegram)
    for obis in (b"1-0:1.8.0", None):
        for offset, line in _lines(telegram, start, bang):
            m = _COSEM_LINE_RE.match(line)
            if m is None or (obis is not None and m.group(1) != obis):
                continue
            lo = offset + len(m.group(1)) + 1
            value = telegram[lo:telegram.index(b")", lo)]
            number = value.split(b"*", 1)[0]
            if _NUMBER_RE.match(number):
                return lo + len(number) - 1
    raise FrameError("telegram has no numeric COSEM value to corrupt")


def corrupt_byte(telegram, index=None, xor=0x01):
    """Flip bits of one byte and keep the old CRC, so the frame's CRC is now wrong.

    ``index`` defaults to the last digit of 1-0:1.8.0's value (else the first
    numeric value). With the default ``xor=0x01`` a digit stays a digit
    ('0'<->'1', ..., '8'<->'9'): the frame still parses, and only the CRC tells.
    """
    telegram = bytes(telegram)
    if not 0 < xor < 256:
        raise ValueError("xor must be 1..255, got %r" % (xor,))
    if index is None:
        index = _default_corrupt_index(telegram)
    if not -len(telegram) <= index < len(telegram):
        raise IndexError("index %d outside telegram of %d bytes" % (index, len(telegram)))
    out = bytearray(telegram)
    out[index] ^= xor
    return bytes(out)


def validate(telegram):
    """Human-readable problems with one telegram; an empty list means it is clean.

    Checks: '/' header at byte 0, blank second line, COSEM line syntax, the '!' end
    line, 4 upper-case hex CRC digits, the CRC value (got = in the telegram, want =
    computed), CRLF on every line, nothing after the CRC line.
    """
    telegram = bytes(telegram)
    problems = []
    if not telegram:
        return ["empty telegram"]
    if not telegram.startswith(b"/"):
        problems.append("missing '/' header at byte 0 (starts with %r)" % telegram[:16])
    try:
        start, bang = _frame_bounds(telegram)
    except FrameError as err:
        problems.append("missing " + str(err).replace("no ", "", 1))
        return problems

    # Line endings over the whole frame, '/' through the CRC line.
    line_no = 0
    pos = start
    while pos < len(telegram):
        line_no += 1
        eol = telegram.find(b"\n", pos)
        if eol < 0:
            problems.append("line %d (byte %d): no line end" % (line_no, pos))
            break
        if eol == pos or telegram[eol - 1] != 0x0D:
            problems.append("line %d (byte %d): ends in bare LF, not CRLF" % (line_no, pos))
        cr = telegram.find(b"\r", pos, eol - 1)
        if cr >= 0:
            problems.append("line %d (byte %d): stray CR inside the line" % (line_no, cr))
        pos = eol + 1
        if pos > bang:
            break
    trailer = telegram[pos:] if pos > bang else b""
    if trailer:
        problems.append("%d bytes after the CRC line: %r" % (len(trailer), trailer[:_SHOW]))

    # Header, blank line, COSEM lines.
    lines = list(_lines(telegram, start, bang))
    if len(lines) < 2 or lines[1][1] != b"":
        problems.append("line 2 must be blank (header line, then an empty line)")
    for n, (offset, line) in enumerate(lines[2:], start=3):
        if not _COSEM_LINE_RE.match(line):
            problems.append("line %d (byte %d): not a COSEM line: %r" % (n, offset, line[:_SHOW]))

    # CRC.
    field = _crc_field(telegram, bang)
    want = crc16(telegram[start:bang + 1])
    if not _CRC_FIELD_RE.match(field):
        problems.append("CRC field %r is not 4 upper-case hex digits (want %04X)" % (field, want))
    elif int(field, 16) != want:
        problems.append("bad CRC: got %s, want %04X" % (field.decode("ascii"), want))
    return problems
