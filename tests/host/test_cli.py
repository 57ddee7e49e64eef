"""Every `hil` command answers --help (argparse formats each help text)."""
import pytest

from hil.cli import main

COMMANDS = ["demo", "sim", "captures", "capture", "boards", "flash", "deploy", "play", "monitor",
            "adapter-check", "report"]


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS], ids=lambda a: " ".join(a))
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: hil" in capsys.readouterr().out
