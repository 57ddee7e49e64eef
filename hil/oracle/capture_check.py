"""Is a capture usable? Per telegram: framing and CRC (hil.p1.framing), a
valid clock line, and the oracle's parse (dsmr-parser) of every value; and
no byte outside a telegram. The oracle owns this check, as it owns what a
correct bridge publishes: a capture the oracle cannot read judges nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..p1 import framing as p1
from ..p1.captures import CLOCK_RE, CaptureError, clock_date, read_capture
from .dsmr import OracleError, expect


@dataclass
class TelegramReport:
    """What is wrong (if anything) with one telegram of a file."""
    number: int  # 1-based position in the file
    offset: int  # byte offset in the file
    size: int
    crc: str  # the CRC field as carried ('' if none)
    clock: str  # 0-0:1.0.0 value ('' if none)
    values: int = 0  # contract values the oracle extracted
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class FileReport:
    path: str
    size: int
    telegrams: list[TelegramReport]
    problems: list[str]  # problems outside any telegram (stray bytes, truncation, empty)

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.telegrams)


def check_telegram(telegram: bytes, number: int = 1, offset: int = 0) -> TelegramReport:
    """Framing and CRC (hil.p1.framing.validate), then the oracle's parse."""
    bang = telegram.rfind(b"\n!")
    crc = telegram[bang + 2:].strip().decode("latin-1") if bang >= 0 else ""
    clock = CLOCK_RE.search(telegram)
    report = TelegramReport(number, offset, len(telegram), crc,
                            (clock.group(1) + clock.group(2)).decode() if clock else "")
    report.problems.extend(p1.validate(telegram))
    if clock is None:
        report.problems.append("no 0-0:1.0.0 timestamp line (YYMMDDhhmmssX)")
    else:
        try:
            clock_date(clock.group(1))
        except ValueError as e:
            report.problems.append("0-0:1.0.0 %s is not a valid time: %s" % (report.clock, e))
    try:
        report.values = len(expect(telegram).values)
    except OracleError as e:
        if not any("CRC" in p for p in report.problems):  # a bad CRC is reported once
            report.problems.append("oracle (dsmr-parser): %s" % e)
    return report


def check_bytes(data: bytes, path: str = "<bytes>") -> FileReport:
    """Check every telegram in ``data`` and every byte between them."""
    data = bytes(data)
    problems = []
    telegrams = []
    if not data:
        problems.append("file is empty")
    pos = 0
    for n, frame in enumerate(p1.split_telegrams(data), start=1):
        at = data.find(frame, pos)
        if at > pos:
            problems.append("%d bytes outside any telegram at byte %d: %r" % (at - pos, pos, data[pos:at][:40]))
        telegrams.append(check_telegram(frame, n, at))
        pos = at + len(frame)
    if pos < len(data):
        rest = data[pos:]
        what = "of an incomplete telegram" if rest.lstrip(b"\r\n").startswith(b"/") else "outside any telegram"
        problems.append("%d bytes %s at the end (byte %d): %r" % (len(rest), what, pos, rest[:40]))
    if data and not telegrams:
        problems.append("no complete telegram ('/' header line through '!CRC' line)")
    return FileReport(path, len(data), telegrams, problems)


def check_file(path) -> FileReport:
    """check_bytes() of a file; CaptureError (one line) when it cannot be read."""
    return check_bytes(read_capture(path), str(path))


def usable_capture(path) -> bytes:
    """read_capture(), holding every telegram and every byte between them to
    check_bytes(); CaptureError names the first problem otherwise."""
    data = read_capture(path)
    report = check_bytes(data, str(path))
    problems = [f"telegram {t.number} (byte {t.offset}): {p}" for t in report.telegrams for p in t.problems]
    problems += report.problems
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CaptureError(f"{path}: not a usable capture: {problems[0]}{more}; "
                           f"`hil captures validate {path}` shows all")
    return data
