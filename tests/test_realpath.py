"""The kernel's answer to "where is this path really" and the Python walk agree."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ai4artsed_storage import _realpath
from ai4artsed_storage._realpath import is_within, real_path_and_stat


@pytest.fixture(params=["kernel", "python walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_realpath, "_FAST", request.param == "kernel")
    return str(request.param)


def test_symlink_chains_resolve_to_the_file(tmp_path: Path, mode: str) -> None:
    real = tmp_path / "data" / "image.png"
    real.parent.mkdir()
    real.write_bytes(b"x" * 7)
    (tmp_path / "hop").symlink_to("data")
    (tmp_path / "link.png").symlink_to(tmp_path / "hop" / "image.png")
    found, status = real_path_and_stat(tmp_path / "link.png")
    assert found == os.path.realpath(real)
    assert status.st_size == 7


def test_missing_dangling_and_looping_paths_raise(tmp_path: Path, mode: str) -> None:
    with pytest.raises(FileNotFoundError):
        real_path_and_stat(tmp_path / "absent")
    (tmp_path / "dangling").symlink_to(tmp_path / "absent")
    with pytest.raises(FileNotFoundError):
        real_path_and_stat(tmp_path / "dangling")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError) as raised:
        real_path_and_stat(tmp_path / "a")
    assert raised.value.errno == errno.ELOOP


def test_within_compares_whole_components() -> None:
    assert is_within("/srv/root/json/x.png", "/srv/root")
    assert is_within("/srv/root", "/srv/root")
    assert not is_within("/srv/rootkit/x.png", "/srv/root")
    assert is_within("/x.png", "/")
