"""The instance lock: one holder per root, the holder named, freed on release or death."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ai4artsed_storage import InstanceGuard, InstanceInfo, InstanceLocked, StorageRoot
from tests.procs import Children


def test_second_guard_on_the_root_is_refused_naming_the_holder(root_path: Path) -> None:
    root = StorageRoot(root_path)
    first = InstanceInfo.create(17801)
    with InstanceGuard(root, first) as guard:
        assert guard.held
        assert guard.lock_path == root_path / ".ai4artsed" / "instance.lock"
        assert json.loads(guard.lock_path.read_text())["instance_id"] == first.instance_id

        with pytest.raises(InstanceLocked) as refused:
            InstanceGuard(root, InstanceInfo.create(17802)).acquire()

        message = str(refused.value)
        assert f"pid {first.pid}" in message
        assert "port 17801" in message
        assert first.instance_id in message
    assert not guard.held
    with InstanceGuard(root, InstanceInfo.create(17802)) as again:
        assert again.held


def test_guards_on_different_roots_do_not_interfere(tmp_path: Path) -> None:
    with (
        InstanceGuard(StorageRoot(tmp_path / "one"), InstanceInfo.create(1)),
        InstanceGuard(StorageRoot(tmp_path / "two"), InstanceInfo.create(2)),
    ):
        pass


def test_lock_of_a_killed_holder_is_free(root_path: Path, children: Children) -> None:
    holder, said = children.python(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ai4artsed_storage import InstanceGuard, InstanceInfo, StorageRoot\n"
        "InstanceGuard(StorageRoot(Path(sys.argv[1])), InstanceInfo.create(9)).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n",
        str(root_path),
    )
    assert said == "held"
    with pytest.raises(InstanceLocked, match=f"pid {holder.pid}"):
        InstanceGuard(StorageRoot(root_path), InstanceInfo.create(1)).acquire()
    children.stop(holder)
    with InstanceGuard(StorageRoot(root_path), InstanceInfo.create(1)):
        pass
