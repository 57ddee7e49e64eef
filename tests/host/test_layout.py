"""The host package's layout rules: each `hil` command group is a module of its
own in hil/cli/, wired together only by the command table (hil/cli/__init__.py);
what they share lives in library modules (hil.cli.ui for output, hil.rig.session,
hil.rig, ...), not in each other."""
from __future__ import annotations

import ast
from pathlib import Path

HIL = Path(__file__).resolve().parents[2] / "hil"
COMMAND_TABLE = HIL / "cli" / "__init__.py"
SHARED = {"__init__.py", "__main__.py", "ui.py"}
COMMAND_MODULES = sorted(p for p in (HIL / "cli").glob("*.py") if p.name not in SHARED)


def _imported(path: Path) -> set[str]:
    """Dotted names of the modules a file imports, relative ones made absolute."""
    package = ".".join(path.relative_to(HIL.parent).with_suffix("").parts[:-1])
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


def _module(path: Path) -> str:
    return ".".join(path.relative_to(HIL.parent).with_suffix("").parts)


def test_there_are_command_modules_to_check():
    assert {p.name for p in COMMAND_MODULES} >= {"adapter.py", "bench.py", "captures.py", "demo.py", "report.py"}


def test_command_modules_do_not_import_each_other():
    commands = {_module(p) for p in COMMAND_MODULES}
    crossing = {_module(p): sorted(_imported(p) & (commands - {_module(p)})) for p in COMMAND_MODULES}
    assert not any(crossing.values()), f"command modules importing each other: {crossing}"


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

    root = HIL.parent
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", "*.json", "Makefile"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.split()
    assert (root / "docs/ARCHITECTURE.md").is_file()
    outside = [f"{f}:{n}" for f in files for n, line in enumerate((root / f).read_text(errors="replace").splitlines(), 1)
               if re.search(r"(?<!docs/)\bARCHITECTURE(\.md)?\b", line) and not f.startswith("docs/ARCHITECTURE")]
    assert not outside, f"pointers to a design document outside the repository: {outside}"
