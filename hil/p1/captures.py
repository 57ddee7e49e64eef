"""The project's capture library: captures/*.p1 and their index.

A capture file holds one or more telegrams back to back, byte-exact as on the
wire. :func:`import_capture` copies a file into the library and appends its
index entry, once a check (hil.oracle.capture_check: framing, CRC and the
oracle's parse) has found it clean.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import framing as p1
from ..shipped import CAPTURES

CAPTURE_DIR = CAPTURES  # the library shipped with the package
PROFILE = "Hungarian E.ON P1 (DSMR 5 based)"
INDEX_FIELDS = ("file", "source", "meter", "profile", "date", "bytes", "crc", "sha256", "notes")


class CaptureError(Exception):
    """A capture cannot be imported or read; the message says why."""


@dataclass(frozen=True)
class Capture:
    file: str
    meter: str
    crc: str
    path: Path
    source: str = ""
    profile: str = ""
    date: datetime.date | None = None
    bytes: int = 0
    sha256: str = ""
    notes: str = ""

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def load_index(directory: Path = CAPTURE_DIR) -> list[Capture]:
    with open(Path(directory) / "index.toml", "rb") as f:
        entries = tomllib.load(f).get("capture", [])
    return [Capture(e["file"], e["meter"], e["crc"], Path(directory) / e["file"],
                    source=e.get("source", ""), profile=e.get("profile", ""), date=e.get("date"),
                    bytes=e.get("bytes", 0), sha256=e.get("sha256", ""), notes=e.get("notes", ""))
            for e in entries]


def sx631(directory: Path = CAPTURE_DIR) -> Capture:
    """The SX631 capture: the meter this rig is for, and every check's default telegram."""
    return next(c for c in load_index(directory) if c.file.startswith("sx631"))


def read_capture(path) -> bytes:
    """A capture file's bytes, or CaptureError saying in one line why not."""
    path = Path(path)
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot read: {e.strerror or e}") from None


CLOCK_RE = re.compile(rb"^0-0:1\.0\.0\((\d{12})([SW])\)", re.MULTILINE)  # the telegram's clock line


def clock_date(digits: bytes) -> datetime.date:
    yy, mm, dd = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    hh, mi, ss = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    datetime.time(hh, mi, ss)  # raises ValueError when out of range
    return datetime.date(2000 + yy, mm, dd)


def telegram_date(telegram: bytes) -> datetime.date:
    m = CLOCK_RE.search(telegram)
    if m is None:
        raise CaptureError("telegram has no 0-0:1.0.0 timestamp")
    return clock_date(m.group(1))


# --- the index ---

def _toml_str(text: str) -> str:
    """A TOML basic string (spec: escape backslash, quote and control characters)."""
    out = ['"']
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def index_entry(file: str, data: bytes, *, meter: str, source: str, notes: str = "",
                profile: str = PROFILE) -> dict:
    """The index fields for capture bytes (date and crc from the first / last telegram)."""
    frames = p1.split_telegrams(data)
    if not frames:
        raise CaptureError("no complete telegram in %s" % file)
    last = frames[-1]
    crc = last[last.rindex(b"!") + 1:].strip().decode("ascii")
    if len(frames) > 1:
        notes = ("%d telegrams back to back; crc is the last one's. " % len(frames) + notes).strip()
    return {"file": file, "source": source, "meter": meter, "profile": profile,
            "date": telegram_date(frames[0]), "bytes": len(data), "crc": crc,
            "sha256": hashlib.sha256(data).hexdigest(), "notes": notes}


def format_entry(entry: dict) -> str:
    """One ``[[capture]]`` table, fields in the index's order.

    Written by hand: no TOML writer is among the pinned dependencies (tomllib
    only reads); :func:`append_entry` reads the result back to check it.
    """
    lines = ["[[capture]]"]
    for key in INDEX_FIELDS:
        value = entry[key]
        if isinstance(value, datetime.date):
            text = value.isoformat()
        elif isinstance(value, int):
            text = str(value)
        else:
            text = _toml_str(str(value))
        lines.append("%s = %s" % (key, text))
    return "\n".join(lines) + "\n"


def append_entry(index_path: Path, entry: dict) -> None:
    """Append ``entry`` to index.toml atomically, after checking it reads back equal."""
    index_path = Path(index_path)
    old = index_path.read_text(encoding="utf-8") if index_path.exists() else ""
    sep = "" if not old or old.endswith("\n\n") else ("\n" if old.endswith("\n") else "\n\n")
    new = old + sep + format_entry(entry)
    parsed = tomllib.loads(new).get("capture", [])
    if not parsed or parsed[-1] != entry:
        raise CaptureError("index entry did not read back equal (a bug in format_entry): %r" % (entry,))
    fd, tmp = tempfile.mkstemp(dir=index_path.parent, prefix=".index.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, index_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def import_capture(src, *, check, meter: str, source: str, notes: str = "", name: str | None = None,
                   directory: Path = CAPTURE_DIR, anonymise: bool = False, seed=None) -> dict:
    """Validate ``src`` with ``check`` (bytes, label -> a report with ``ok``:
    hil.oracle.capture_check.check_bytes), copy it (anonymised if asked) into
    ``directory`` and index it.

    Refuses: a file with any problem, a name that exists, a name not ending in
    .p1, and content already in the index (same sha256). Returns the entry.
    """
    src = Path(src)
    directory = Path(directory)
    data = src.read_bytes()
    report = check(data, str(src))
    if not report.ok:
        raise CaptureError("%s does not validate; run `hil captures validate %s`" % (src, src))
    if anonymise:
        from .anonymise import anonymise as rewrite
        data = rewrite(data, seed)
        report = check(data, str(src) + " (anonymised)")
        if not report.ok:  # pragma: no cover - anonymise keeps frames valid; guard anyway
            raise CaptureError("anonymised %s does not validate" % src)
    name = name or src.name
    if "/" in name or not name.endswith(".p1"):
        raise CaptureError("capture name %r must be a plain file name ending in .p1 (use --name)" % name)
    dest = directory / name
    if dest.exists():
        raise CaptureError("%s exists; refusing to overwrite (choose another --name)" % dest)
    index_path = directory / "index.toml"
    digest = hashlib.sha256(data).hexdigest()
    known = load_index(directory) if index_path.exists() else []
    for cap in known:
        if cap.file == name:
            raise CaptureError("index already has an entry for %s" % name)
        if cap.sha256 == digest:
            raise CaptureError("the same bytes are already in the library as %s" % cap.file)
    entry = index_entry(name, data, meter=meter, source=source, notes=notes)
    with open(dest, "xb") as f:  # exclusive: never overwrite, even in a race
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        append_entry(index_path, entry)
    except BaseException:
        dest.unlink()
        raise
    if dest.read_bytes() != data:  # pragma: no cover - a filesystem fault
        raise CaptureError("%s does not read back byte-exact" % dest)
    return entry
