"""Every `hil` command answers --help (argparse formats each help text)."""
import pytest

from hil.cli import main

COMMANDS = ["demo", "sim", "captures", "capture", "boards", "flash", "deploy", "play", "monitor",
            "adapter-check", "report", "doctor"]


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS], ids=lambda a: " ".join(a))
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: hil" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"", b"not a telegram\n", b"/XYZ5\r\n\r\n1-0:1.8.0(000001.000*kWh)\r\n!0000\r\n"],
                         ids=["missing", "empty", "text", "bad CRC"])
def test_demo_with_an_unusable_capture_prints_one_line_and_exits_2(tmp_path, capsys, content):
    capture = tmp_path / "mine.p1"
    if content is not None:
        capture.write_bytes(content)
    assert main(["demo", "--capture", str(capture)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and str(capture) in err, (out, err)
