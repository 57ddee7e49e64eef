"""hil captures validate / import / anonymise / synthesize (hil/cli/captures.py)."""

import hashlib
import re
import shutil
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from hil.p1 import anonymise
from hil.p1 import captures
from hil.p1 import framing as p1
from hil.p1 import synth
from hil.cli.captures import main
from hil.oracle import capture_check
from hil.oracle.dsmr import expected_values

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SX631 = (CAPTURES / "sx631_aux_3ph.p1").read_bytes()
SAGEMCOM = (CAPTURES / "sagemcom_eon_hu_3ph.p1").read_bytes()
BOTH = pytest.mark.parametrize("telegram", [SX631, SAGEMCOM], ids=["sx631", "sagemcom"])


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- validate ---

def test_validate_clean_files_exit_0(tmp_path, capsys):
    both = _write(tmp_path, "both.p1", SX631 + SAGEMCOM + SX631)
    assert main(["captures", "validate", str(CAPTURES / "sx631_aux_3ph.p1"), str(both)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal width
    assert "3 of 3 telegrams clean" in out and "1 of 1 telegrams clean" in out


@pytest.mark.parametrize("damage, expect", [
    (lambda d: p1.corrupt_byte(d), "bad CRC"),
    (lambda d: d + d[:500], "incomplete telegram at the end"),
    (lambda d: b"noise" + d, "outside any telegram"),
    (lambda d: d.replace(b"\r\n", b"\n"), "bare LF"),
    (lambda d: p1.with_crc(d[:d.rindex(b"!") + 1].replace(b"1-0:32.7.0(", b"1-0:32.7.0 (")), "not a COSEM line"),
    (lambda d: p1.with_crc(d[:d.rindex(b"!") + 1].replace(b"(230817171430S)", b"(231317171430S)")),
     "not a valid time"),
    (lambda d: b"", "empty"),
], ids=["crc", "truncated", "leading-noise", "lf", "syntax", "clock", "empty"])
def test_validate_broken_files_exit_1(tmp_path, capsys, damage, expect):
    bad = _write(tmp_path, "bad.p1", damage(SX631))
    good = _write(tmp_path, "good.p1", SAGEMCOM)
    assert main(["captures", "validate", str(good), str(bad)]) == 1
    assert expect in " ".join(capsys.readouterr().out.split())


def test_validate_reports_each_telegram():
    report = capture_check.check_bytes(SX631 + p1.corrupt_byte(SAGEMCOM) + SX631)
    assert [t.ok for t in report.telegrams] == [True, False, True]
    assert [t.offset for t in report.telegrams] == [0, len(SX631), len(SX631) + len(SAGEMCOM)]
    assert report.telegrams[1].problems == ["bad CRC: got 99DA, want %04X" % p1.crc16(
        p1.corrupt_byte(SAGEMCOM)[:SAGEMCOM.rindex(b"!") + 1])]
    assert report.telegrams[0].values == 35


# --- import ---

@pytest.fixture
def library(tmp_path):
    """A copy of captures/ (the real index is never touched)."""
    lib = tmp_path / "captures"
    shutil.copytree(CAPTURES, lib)
    return lib


def _index(lib):
    return tomllib.loads((lib / "index.toml").read_text(encoding="utf-8"))["capture"]


def test_import_appends_an_entry_like_the_existing_ones(library, tmp_path):
    seq = _write(tmp_path, "sx631_seq.p1", b"".join(synth.synthesize(SX631, 3, seed=1)))
    before = (library / "index.toml").read_text(encoding="utf-8")
    rc = main(["captures", "import", str(seq), "--meter", 'Sanxing "SX631"', "--source", "synthesized",
               "--notes", "a\\b", "--anonymise", "--seed", "7", "--captures-dir", str(library)])
    assert rc == 0
    after = (library / "index.toml").read_text(encoding="utf-8")
    assert after.startswith(before)
    entries = _index(library)
    assert set(entries[-1]) == set(entries[0])  # same fields as the existing entries
    entry = entries[-1]
    data = (library / "sx631_seq.p1").read_bytes()
    assert data == anonymise.anonymise(seq.read_bytes(), seed="7")  # byte-exact copy of what was validated
    assert entry["file"] == "sx631_seq.p1" and entry["meter"] == 'Sanxing "SX631"'
    assert entry["source"] == "synthesized" and entry["notes"].endswith("a\\b")
    assert entry["profile"] == entries[0]["profile"]
    assert str(entry["date"]) == "2023-08-17"
    assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert data.endswith(b"!" + entry["crc"].encode() + b"\r\n")
    assert b"9903218166" not in data
    assert [c.file for c in captures.load_index(library)][-1] == "sx631_seq.p1"


def test_import_refuses_overwrite_duplicates_and_bad_files(library, tmp_path):
    index_before = (library / "index.toml").read_bytes()
    same_name = _write(tmp_path, "sx631_aux_3ph.p1", SX631)
    assert main(["captures", "import", str(same_name), "--meter", "m", "--source", "s",
                 "--captures-dir", str(library)]) == 2
    copy = _write(tmp_path, "copy.p1", SX631)
    assert main(["captures", "import", str(copy), "--meter", "m", "--source", "s",
                 "--captures-dir", str(library)]) == 2  # same bytes already indexed
    bad = _write(tmp_path, "bad.p1", p1.corrupt_byte(SX631))
    assert main(["captures", "import", str(bad), "--meter", "m", "--source", "s",
                 "--captures-dir", str(library)]) == 1
    txt = _write(tmp_path, "x.txt", SAGEMCOM)
    assert main(["captures", "import", str(txt), "--meter", "m", "--source", "s", "--anonymise",
                 "--captures-dir", str(library)]) == 2
    assert (library / "index.toml").read_bytes() == index_before
    assert sorted(p.name for p in library.iterdir()) == sorted(p.name for p in CAPTURES.iterdir())


# --- anonymise ---

def _forms(identifier):
    return {identifier, identifier.hex().encode(), identifier.hex().upper().encode()}


@BOTH
def test_anonymise_removes_every_identifier(tmp_path, telegram):
    ids = anonymise.identifiers(telegram)
    assert ids  # the header ident, 96.1.0 and 42.0.0 were found
    src = _write(tmp_path, "in.p1", b"".join(synth.synthesize(telegram, 5, seed=2)))
    dst = tmp_path / "out.p1"
    assert main(["captures", "anonymise", str(src), str(dst), "--seed", "s"]) == 0
    out = dst.read_bytes()
    assert len(out) == len(src.read_bytes())
    for ident in ids:
        for form in _forms(ident):
            assert form not in out, form
    frames = p1.split_telegrams(out)
    assert len(frames) == 5
    for before, after in zip(p1.split_telegrams(src.read_bytes()), frames):
        assert p1.validate(after) == []
        assert expected_values(after) == expected_values(before)  # only identifiers changed
        assert len(after) == len(before)


def test_anonymise_known_identifiers_and_classes():
    # The serials as published, in every form they take in the two captures.
    sx_serial, sag_serial = b"9903218166", b"890082200002160"
    out_sx = anonymise.anonymise(SX631, seed=1)
    out_sag = anonymise.anonymise(SAGEMCOM, seed=1)
    for form in _forms(sx_serial) | _forms(b"AUX1030303218166") | {b"/AUX59903218166"}:
        assert form not in out_sx
    for form in _forms(sag_serial) | _forms(b"SAG3082200002160") | {b"SAG-METER"}:
        assert form not in out_sag
    head = out_sx.split(b"\r\n", 1)[0]
    assert re.fullmatch(rb"/AUX5\d{10}", head)
    ids = dict(re.findall(rb"(0-0:(?:96\.1\.0|42\.0\.0))\(([^)]*)\)", out_sx))
    assert re.fullmatch(rb"\d{10}", ids[b"0-0:96.1.0"]) and ids[b"0-0:96.1.0"] == head[5:]
    assert re.fullmatch(rb"AUX\d{13}", ids[b"0-0:42.0.0"])
    ids = dict(re.findall(rb"(0-0:(?:96\.1\.0|42\.0\.0))\(([^)]*)\)", out_sag))
    decoded = bytes.fromhex(ids[b"0-0:96.1.0"].decode())
    assert len(ids[b"0-0:96.1.0"]) == 30 and re.fullmatch(rb"\d{15}", decoded)  # still hex-encoded digits
    assert re.fullmatch(rb"SAG\d{13}", bytes.fromhex(ids[b"0-0:42.0.0"].decode()))
    assert re.fullmatch(rb"/SAG5[A-Z]{3}-[A-Z]{5}", out_sag.split(b"\r\n", 1)[0])


def test_anonymise_is_consistent_across_telegrams_and_seeded():
    data = b"".join(synth.synthesize(SAGEMCOM, 4, seed=3)) + SAGEMCOM
    out = anonymise.anonymise(data, seed="k")
    frames = p1.split_telegrams(out)
    ident_lines = {re.sub(rb"^0-0:1\.0\.0.*$", b"", f.split(b"0-0:96.14.0")[0], flags=re.M) for f in frames}
    assert len(ident_lines) == 1  # header, 42.0.0 and 96.1.0 the same in every telegram
    assert anonymise.anonymise(data, seed="k") == out
    assert anonymise.anonymise(data, seed="other") != out
    assert anonymise.anonymise(data) != anonymise.anonymise(data)  # no seed: a random key


def test_anonymise_keeps_a_bad_crc_bad():
    bad = p1.corrupt_byte(SX631)
    out = anonymise.anonymise(bad, seed=1)
    assert not p1.telegram_crc_ok(out)
    assert p1.validate(out) == ["bad CRC: got %s, want %04X" % (
        out[-6:-2].decode(), p1.crc16(out[:out.rindex(b"!") + 1]))]


def test_anonymise_refuses_stray_bytes():
    with pytest.raises(anonymise.AnonymiseError):
        anonymise.anonymise(b"junk\r\n" + SX631)


# --- synthesize ---

def _num(telegram, obis):
    return Decimal(p1.cosem_values(telegram)[obis][0].split(b"*")[0].decode())


@BOTH
def test_synthesized_sequence_is_realistic(tmp_path, telegram):
    src = _write(tmp_path, "template.p1", telegram)
    out = tmp_path / "seq.p1"
    assert main(["captures", "synthesize", str(src), str(out), "--count", "500", "--seed", "5"]) == 0
    data = out.read_bytes()
    assert main(["captures", "validate", str(out)]) == 0
    report = capture_check.check_bytes(data)
    assert report.ok and len(report.telegrams) == 500
    frames = p1.split_telegrams(data)
    assert frames[0] == telegram
    assert len(set(frames)) == 500

    clocks = [t.clock for t in report.telegrams]
    assert all(c[-1:] == clocks[0][-1:] for c in clocks)  # the template's DST letter
    from datetime import datetime, timedelta
    times = [datetime.strptime(c[:12], "%y%m%d%H%M%S") for c in clocks]
    assert all(b - a == timedelta(seconds=10) for a, b in zip(times, times[1:]))

    template_fmt = re.findall(rb"\(([\d.]+)(\*[A-Za-z]+)?\)", telegram)
    registers = ["1-0:%d.8.%d" % (c, t) for c in (1, 2) for t in range(5)] + \
                ["1-0:%d.8.0" % c for c in (3, 4, 5, 6, 7, 8, 15)]
    vals = [{o: _num(f, o) for o in registers} for f in frames]
    for prev, cur in zip(vals, vals[1:]):
        for o in registers:
            assert cur[o] >= prev[o], o
    for v in vals:
        assert v["1-0:1.8.0"] - sum(v["1-0:1.8.%d" % t] for t in range(1, 5)) == \
            vals[0]["1-0:1.8.0"] - sum(vals[0]["1-0:1.8.%d" % t] for t in range(1, 5)) == 0
        assert v["1-0:2.8.0"] == sum(v["1-0:2.8.%d" % t] for t in range(1, 5))
        assert v["1-0:15.8.0"] == v["1-0:1.8.0"] + v["1-0:2.8.0"]

    # Energy = power x interval, to the last digit (the power of the previous telegram).
    net = [_num(f, "1-0:1.7.0") - _num(f, "1-0:2.7.0") for f in frames[:-1]]
    imp = sum(max(n, Decimal(0)) for n in net) * 10 / 3600
    exp = sum(max(-n, Decimal(0)) for n in net) * 10 / 3600
    grown_imp = vals[-1]["1-0:1.8.0"] - vals[0]["1-0:1.8.0"]
    grown_exp = vals[-1]["1-0:2.8.0"] - vals[0]["1-0:2.8.0"]
    assert imp - Decimal("0.001") < grown_imp <= imp
    assert exp - Decimal("0.001") < grown_exp <= exp
    assert grown_imp + grown_exp > 0

    # Bounded wandering, formats exactly the template's.
    for f in frames:
        assert re.findall(rb"\(([\d.]+)(\*[A-Za-z]+)?\)", f).__len__() == len(template_fmt)
        for (a, ua), (b, ub) in zip(template_fmt, re.findall(rb"\(([\d.]+)(\*[A-Za-z]+)?\)", f)):
            assert (len(a), a.find(b"."), ua) == (len(b), b.find(b"."), ub)
        for o in ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0"):
            assert abs(_num(f, o) - _num(telegram, o)) <= _num(telegram, o) * Decimal("0.021")
        assert abs(_num(f, "1-0:14.7.0") - 50) <= Decimal("0.06")
    volts = {_num(f, "1-0:32.7.0") for f in frames}
    assert len(volts) > 5  # they do vary


def test_synthesize_is_deterministic_per_seed():
    assert synth.synthesize(SX631, 20, seed=1) == synth.synthesize(SX631, 20, seed=1)
    assert synth.synthesize(SX631, 20, seed=1) != synth.synthesize(SX631, 20, seed=2)


def test_synthesize_interval_and_refusals(tmp_path):
    frames = synth.synthesize(SAGEMCOM, 3, interval_s=3600)
    assert [capture_check.check_telegram(f).clock for f in frames] == ["230724150730S", "230724160730S", "230724170730S"]
    with pytest.raises(synth.SynthError):
        synth.synthesize(SX631.replace(b"0-0:1.0.0", b"0-0:1.0.9"), 2)
    out = tmp_path / "x.p1"
    out.write_bytes(b"keep")
    assert main(["captures", "synthesize", str(_write(tmp_path, "t.p1", SX631)), str(out), "--count", "2"]) == 2
    assert out.read_bytes() == b"keep"


def test_marker_sequence_still_works():
    seq = synth.sequence(SX631, 3)
    assert [synth.index_of(SX631, str(_num(t, "1-0:1.8.0"))) for t in seq] == [0, 1, 2]


@pytest.mark.parametrize("payload", ["", "12?45.678", "NaN", "Infinity", "\x00\xff"])
def test_a_payload_that_is_no_number_names_no_telegram(payload):
    # A bridge that lost bytes of the line can publish such a value: it is a
    # wrong value for the checks to report, never a crash of the oracle.
    assert synth.index_of(SX631, payload) is None


# --- a file no command can use: one line, exit 2, never a traceback ---

def _unusable(tmp_path):
    return {"missing": tmp_path / "nope.p1", "a directory": tmp_path}


@pytest.mark.parametrize("what", ["missing", "a directory"])
@pytest.mark.parametrize("argv", [
    ["captures", "validate", "{f}"],
    ["captures", "import", "{f}", "--meter", "m", "--source", "s", "--captures-dir", "{lib}"],
    ["captures", "anonymise", "{f}", "{out}"],
    ["captures", "synthesize", "{f}", "{out}", "--count", "2"],
    ["captures", "upload", "{f}", "--port", "/dev/null-no-board"],
], ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else a)
def test_every_capture_command_says_in_one_line_why_a_file_is_unusable(tmp_path, capsys, argv, what):
    f = _unusable(tmp_path)[what]
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "index.toml").write_text("")
    args = [a.format(f=f, out=tmp_path / "out.p1", lib=tmp_path / "lib") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(f) in err, err
    assert ("no such file" if what == "missing" else "is a directory") in err
    assert not (tmp_path / "out.p1").exists()


def test_usable_capture_names_the_first_problem(tmp_path):
    bad = _write(tmp_path, "cut.p1", SX631 + SX631[:500])
    with pytest.raises(captures.CaptureError) as e:
        capture_check.usable_capture(bad)
    assert str(e.value) == (f"{bad}: not a usable capture: 500 bytes of an incomplete telegram at the end "
                            f"(byte {len(SX631)}): {SX631[:40]!r}; `hil captures validate {bad}` shows all")
    assert capture_check.usable_capture(_write(tmp_path, "ok.p1", SX631 * 2)) == SX631 * 2


def test_import_outside_a_checkout_says_where_the_library_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    src = _write(tmp_path, "mine.p1", SX631)
    assert main(["captures", "import", str(src), "--meter", "m", "--source", "s"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'captures'} is no capture library (no index.toml)" in err
    assert not (tmp_path / "captures").exists()
