"""The host package's layout rules, one for every part, each with a test that
breaks it in a temporary copy and sees the check fail:

- each `hil` command group is a module of its own in hil/cli/, wired together
  only by the command table (hil/cli/__init__.py); what they share lives in
  library modules (hil.cli.ui for output, hil.rig.session, hil.rig, ...), not
  in each other, and the shared helpers (hil.cli.ui) import no command;
- the oracle (hil/oracle/) imports neither firmware nor the rig: expected
  values come from dsmr-parser and the capture's text, never from the code
  the rig runs or drives;
- the MQTT side (hil/net/) imports neither the rig nor the oracle (nor what
  is built on them): both use it;
- the P1 layer (hil/p1/: framing, the capture library, sequences) imports
  neither the oracle nor the rig: the oracle reads telegrams through it, so
  it may not lean back on the oracle;
- the firmware directories (bridge_firmware/, meter_emulator/) import nothing
  from `hil`: firmware never learns about the rig;
- a rig comes up one way (hil.rig.session.open_rig): it picks the rig kind's
  binding from BINDINGS and composes, with no branch on the kind after that;
  what differs per kind (ports, reset, virtual or not, the user's config
  kept) is the binding's to say."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HIL = ROOT / "hil"
COMMAND_TABLE = HIL / "cli" / "__init__.py"
SHARED = {"__init__.py", "__main__.py", "ui.py"}
COMMAND_MODULES = sorted(p for p in (HIL / "cli").glob("*.py") if p.name not in SHARED)
FIRMWARE_DIRS = ("bridge_firmware", "meter_emulator")
RIG = ("hil.rig", "hil.sim", "hil.farm")  # the boards the rig drives, virtual or behind a labgrid place


# hil.net may use the host helpers (hil.procutil, ...), nothing that drives a
# board or judges one, nor what is built on those.
NET_MAY_NOT = RIG + ("hil.oracle", "hil.p1", "hil.cli", "hil.tests", "hil.zabbix", "hil.report", "hil.pytest_plugin")


def _imported(path: Path, root: Path = ROOT) -> set[str]:
    """Dotted names of the modules a file imports, relative ones made absolute."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def _module(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports_of(root: Path, part: str) -> list[tuple[str, str]]:
    """(module, what it imports) for every import in hil/<part>/."""
    return [(_module(path, root), name) for path in sorted((root / "hil" / part).rglob("*.py"))
            for name in sorted(_imported(path, root))]


def oracle_crossings(root: Path) -> list[tuple[str, str]]:
    """(oracle module, what it imports) for every import of firmware or the rig."""
    firmware = set(FIRMWARE_DIRS) | {p.stem for d in FIRMWARE_DIRS for p in (root / d).rglob("*.py")}
    return [(m, n) for m, n in _imports_of(root, "oracle") if n.split(".")[0] in firmware or _under(n, RIG)]


def firmware_crossings(root: Path) -> list[tuple[str, str]]:
    """(firmware file, what it imports) for every import from `hil`."""
    return [(str(path.relative_to(root)), name) for d in FIRMWARE_DIRS for path in sorted((root / d).rglob("*.py"))
            for name in sorted(_imported(path, root)) if _under(name, ("hil",))]


def net_crossings(root: Path) -> list[tuple[str, str]]:
    """(hil.net module, what it imports) for every import of the rig, the oracle or what uses them."""
    return [(m, n) for m, n in _imports_of(root, "net") if _under(n, NET_MAY_NOT)]


def p1_crossings(root: Path) -> list[tuple[str, str]]:
    """(hil.p1 module, what it imports) for every import of the oracle or the rig."""
    return [(m, n) for m, n in _imports_of(root, "p1") if _under(n, ("hil.oracle",) + RIG)]


def helper_crossings(root: Path) -> list[str]:
    """The command modules hil/cli/ui.py imports."""
    cli = root / "hil" / "cli"
    commands = {_module(p, root) for p in cli.glob("*.py") if p.name not in SHARED}
    return sorted(_imported(cli / "ui.py", root) & commands)


def _copy(tmp_path: Path, *parts: str) -> Path:
    """The repository's `parts` (directories) in a scratch root."""
    for part in parts:
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    return tmp_path


def _add(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n" + line + "\n")


def _crossings_after(tmp_path: Path, crossings, parts: tuple[str, ...], path: str, line: str):
    """A rule's `crossings` in a scratch copy of `parts`: clean as copied, then
    after `line` is added to `path` (relative to the repository)."""
    root = _copy(tmp_path, *parts)
    assert not crossings(root), crossings(root)
    _add(root / path, line)
    return crossings(root)


def test_the_oracle_imports_neither_firmware_nor_the_rig():
    assert oracle_crossings(ROOT) == []


@pytest.mark.parametrize("module, line, found", [
    ("expected.py", "from ..rig.board import Board", ("hil.oracle.expected", "hil.rig.board")),
    ("verdict.py", "from ..rig import rig", ("hil.oracle.verdict", "hil.rig")),
    ("outside.py", "from hil.sim.model import board_model", ("hil.oracle.outside", "hil.sim.model")),
    ("contract.py", "import obis", ("hil.oracle.contract", "obis")),
    ("dsmr.py", "from p1reader import P1Reader", ("hil.oracle.dsmr", "p1reader")),
    ("expected.py", "import emulator", ("hil.oracle.expected", "emulator")),
])
def test_the_oracle_rule_fails_on_an_oracle_that_imports_firmware_or_the_rig(tmp_path, module, line, found):
    crossings = _crossings_after(tmp_path, oracle_crossings, ("hil/oracle", "bridge_firmware", "meter_emulator"),
                                 f"hil/oracle/{module}", line)
    assert found in crossings and {c[0] for c in crossings} == {found[0]}, crossings


def test_the_mqtt_side_imports_neither_the_rig_nor_the_oracle():
    assert list((HIL / "net").glob("*.py")), "no Python files in hil/net/"
    assert net_crossings(ROOT) == []


@pytest.mark.parametrize("module, line, found", [
    ("subscriber.py", "from ..rig.board import Board", ("hil.net.subscriber", "hil.rig.board")),
    ("message.py", "from hil.oracle.expected import matches", ("hil.net.message", "hil.oracle.expected.matches")),
    ("broker.py", "from ..sim.model import board_model", ("hil.net.broker", "hil.sim.model")),
])
def test_the_mqtt_side_rule_fails_on_an_import_of_the_rig_or_the_oracle(tmp_path, module, line, found):
    assert found in _crossings_after(tmp_path, net_crossings, ("hil/net",), f"hil/net/{module}", line)


def test_the_p1_layer_imports_neither_the_oracle_nor_the_rig():
    assert p1_crossings(ROOT) == []


@pytest.mark.parametrize("module, line, found", [
    ("captures.py", "from ..oracle.dsmr import OracleError, expect", ("hil.p1.captures", "hil.oracle.dsmr")),
    ("synth.py", "from hil.rig.emulator import TelegramSent", ("hil.p1.synth", "hil.rig.emulator")),
])
def test_the_p1_rule_fails_on_an_import_of_the_oracle_or_the_rig(tmp_path, module, line, found):
    assert found in _crossings_after(tmp_path, p1_crossings, ("hil/p1",), f"hil/p1/{module}", line)


@pytest.mark.parametrize("directory", FIRMWARE_DIRS)
def test_the_firmware_imports_nothing_from_hil(directory):
    files = list((ROOT / directory).rglob("*.py"))
    assert files, f"no Python files in {directory}/"
    assert [c for c in firmware_crossings(ROOT) if c[0].startswith(directory + "/")] == []


@pytest.mark.parametrize("path, line", [
    ("bridge_firmware/bridge.py", "from hil.oracle.contract import TOPICS"),
    ("bridge_firmware/obis.py", "import hil"),
    ("meter_emulator/emulator.py", "import hil.rig.emulator as rig"),
])
def test_the_firmware_rule_fails_on_firmware_that_imports_hil(tmp_path, path, line):
    crossings = _crossings_after(tmp_path, firmware_crossings, FIRMWARE_DIRS, path, line)
    assert {c[0] for c in crossings} == {path}


def test_the_commands_helpers_import_no_command():
    assert helper_crossings(ROOT) == []


@pytest.mark.parametrize("line, found", [
    ("from . import bench", "hil.cli.bench"),
    ("from hil.cli.demo import main", "hil.cli.demo"),
])
def test_the_helpers_rule_fails_on_a_helper_that_imports_a_command(tmp_path, line, found):
    assert _crossings_after(tmp_path, helper_crossings, ("hil/cli",), "hil/cli/ui.py", line) == [found]


def test_there_are_command_modules_to_check():
    assert {p.name for p in COMMAND_MODULES} >= {"adapter.py", "bench.py", "captures.py", "demo.py", "report.py"}


def command_crossings(root: Path) -> dict[str, list[str]]:
    """Command module -> the other command modules it imports."""
    modules = sorted(p for p in (root / "hil" / "cli").glob("*.py") if p.name not in SHARED)
    commands = {_module(p, root) for p in modules}
    crossing = {_module(p, root): sorted(_imported(p, root) & (commands - {_module(p, root)})) for p in modules}
    return {k: v for k, v in crossing.items() if v}


def test_command_modules_do_not_import_each_other():
    assert command_crossings(ROOT) == {}, "command modules importing each other"


def test_the_commands_rule_fails_on_a_command_that_imports_another(tmp_path):
    assert _crossings_after(tmp_path, command_crossings, ("hil/cli",), "hil/cli/bench.py",
                            "from .demo import main as demo") == {"hil.cli.bench": ["hil.cli.demo"]}


def test_only_the_command_table_imports_the_command_modules():
    commands = {_module(p) for p in COMMAND_MODULES}
    importers = [(_module(p), sorted(_imported(p) & commands)) for p in HIL.rglob("*.py")
                 if p.parent != HIL / "cli" and "tests" not in p.parts]
    assert not [i for i in importers if i[1]], f"library modules importing command modules: {importers}"


def test_every_pointer_to_the_architecture_stays_inside_the_repository():
    """docs/ARCHITECTURE.md is the project's own: a pointer to the design
    document anywhere else names a file a user of this repository does not have."""
    import re
    import subprocess

    root = ROOT
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", "*.json", "Makefile"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.split()
    assert (root / "docs/ARCHITECTURE.md").is_file()
    outside = [f"{f}:{n}" for f in files for n, line in enumerate((root / f).read_text(errors="replace").splitlines(), 1)
               if re.search(r"(?<!docs/)\bARCHITECTURE(\.md)?\b", line) and not f.startswith("docs/ARCHITECTURE")]
    assert not outside, f"pointers to a design document outside the repository: {outside}"


SESSION = HIL / "rig" / "session.py"


def kind_branches(source: str) -> list[int]:
    """Lines of open_rig() that test the rig's kind (`spec.kind` in a
    comparison, an if or a conditional expression) other than to pick its binding."""
    tree = ast.parse(source)
    (open_rig,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "open_rig"]
    lines = []
    for node in ast.walk(open_rig):
        if isinstance(node, (ast.Compare, ast.If, ast.IfExp, ast.Match)):
            tested = node.subject if isinstance(node, ast.Match) else node if isinstance(node, ast.Compare) else node.test
            if any(isinstance(a, ast.Attribute) and a.attr == "kind" for a in ast.walk(tested)):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_open_rig_has_no_branch_on_the_rig_kind():
    source = SESSION.read_text()
    assert "BINDINGS.get(spec.kind)" in source, "open_rig picks the binding of spec.kind from BINDINGS"
    assert kind_branches(source) == []


@pytest.mark.parametrize("line", [
    '        keep = spec.kind == "usb"',
    '        if spec.kind != "sim":\n            progress("real boards")',
    '        reset_it = None if spec.kind == "labgrid" else found.reset_bridge',
])
def test_the_one_way_up_rule_fails_on_a_branch_on_the_kind(line):
    source = SESSION.read_text()
    anchor = "        found = stack.enter_context(binding(spec, workdir, progress))\n"
    assert anchor in source
    assert kind_branches(source.replace(anchor, anchor + line + "\n")) != []
