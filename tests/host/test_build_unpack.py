"""hil.sim.build unpacks the MicroPython tarball safely on every Python 3.11:
Debian 12's python3 (3.11.2) has no tarfile filters, so members that would land
outside the tree are refused by hand there."""
from __future__ import annotations

import io
import tarfile

import pytest

from hil.sim import build


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("filters", [True, False], ids=["python with filters", "python 3.11.2"])
def test_a_member_outside_the_tree_is_refused_and_a_clean_tree_unpacks(tmp_path, monkeypatch, filters):
    if not filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    _tar(good, {"micropython-1.28.0/py/obj.c": b"int x;\n"})
    _tar(bad, {"micropython-1.28.0/py/obj.c": b"int x;\n", "../escaped.c": b"boom\n"})
    with tarfile.open(good) as tar:
        build._extract(tar, tmp_path / "ok")
    assert (tmp_path / "ok" / "micropython-1.28.0" / "py" / "obj.c").read_bytes() == b"int x;\n"
    with tarfile.open(bad) as tar, pytest.raises((build.BuildError, tarfile.TarError)):
        build._extract(tar, tmp_path / "no")
    assert not (tmp_path / "escaped.c").exists()
