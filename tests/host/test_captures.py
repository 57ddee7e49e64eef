"""captures/: every .p1 has an index entry that matches the file, and vice versa."""

import hashlib
import tomllib
from pathlib import Path

import pytest

from hil.p1 import framing as p1

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
INDEX = tomllib.loads((CAPTURES / "index.toml").read_text(encoding="utf-8"))["capture"]
FIELDS = {"file", "source", "meter", "profile", "date", "bytes", "crc", "sha256", "notes"}


def test_index_and_files_match_one_to_one():
    files = sorted(path.name for path in CAPTURES.glob("*.p1"))
    indexed = [entry["file"] for entry in INDEX]
    assert len(indexed) == len(set(indexed)), "duplicate index entries"
    assert sorted(indexed) == files


@pytest.mark.parametrize("entry", INDEX, ids=[entry["file"] for entry in INDEX])
def test_entry_matches_file(entry):
    assert set(entry) == FIELDS
    data = (CAPTURES / entry["file"]).read_bytes()
    assert len(data) == entry["bytes"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    # A capture is one telegram or a recorded sequence of them back to back;
    # the index's CRC is the last telegram's.
    telegrams = p1.split_telegrams(data)
    assert b"".join(telegrams) == data, "bytes outside telegrams"
    assert data.endswith(b"!" + entry["crc"].encode("ascii") + b"\r\n")
    assert "%04X" % p1.crc16(telegrams[-1][:telegrams[-1].rindex(b"!") + 1]) == entry["crc"]
    for telegram in telegrams:
        assert p1.telegram_crc_ok(telegram)
        assert p1.validate(telegram) == []
