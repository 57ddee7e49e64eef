"""Build the rig's wheel from a copy of this checkout, as `pip wheel` would for a
release: for the tests that install it somewhere else."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ("pyproject.toml", "README.md", "hil", "bridge_firmware", "meter_emulator", "captures")


def build_wheel(workdir: Path) -> Path:
    """The wheel, built in `workdir` from a copy of the tree (setuptools writes
    build/ and *.egg-info into the tree it builds)."""
    tree = workdir / "src"
    tree.mkdir(parents=True)
    for name in SOURCE:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.mpy", "*.egg-info"))
        else:
            shutil.copy(src, tree / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(workdir / "dist"), str(tree)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"pip wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return next((workdir / "dist").glob("p1_hil_rig-*.whl"))
