"""Migration under hostile conditions: kill -9 at random points, another filesystem, a full
disk. After each, the same command finishes and nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ai4artsed_storage import RunStore, StorageRoot
from ai4artsed_storage._errors import MigrationError
from ai4artsed_storage._migrate import migrate
from tests.conftest import cli_argv, make_run, run_cli
from tests.trees import add_favorites, assert_nothing_lost, inventory, make_exports


def migrate_args(sources: list[Path], root: Path, *extra: str) -> list[str]:
    return ["migrate", *map(str, sources), "--to", str(root), "--json", *extra]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hosts' exports/ under dev/ and prod/, built once: each test migrates a copy."""
    base = tmp_path_factory.mktemp("template")
    dev = make_exports(base / "dev", runs=6)
    prod = make_exports(base / "prod", runs=4, tag="p")
    for number in range(20):
        make_run(prod / "json", "D", f"run_17400000000{number:02d}_abcdef", images=3, tag="p")
    add_favorites(dev, ["a", "b"])
    add_favorites(prod, ["b", "c"])
    return base


def copy_template(template: Path, base: Path) -> list[Path]:
    """A fresh copy of the template at *base*; returns its exports/ trees, dev first."""
    shutil.copytree(template, base, symlinks=True)
    return [base / "dev" / "exports", base / "prod" / "exports"]


def snapshot(sources: list[Path]) -> dict[str, dict[str, str]]:
    """Each source's inventory under its host's name, the label migrate files conflicts by."""
    return {source.parent.name: inventory(source) for source in sources}


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_finishes(template: Path, tmp_path: Path) -> None:
    rng = random.Random(4)
    outcomes: list[str] = []
    for trial in range(20):
        base = tmp_path / f"t{trial}"
        sources = copy_template(template, base)
        before = snapshot(sources)
        root = base / "storage"
        args = migrate_args(sources, root, *(("--copy",) if trial % 2 else ()))
        child = subprocess.Popen(cli_argv(*args), stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.9))
        child.send_signal(signal.SIGKILL)
        outcomes.append("killed" if child.wait() == -signal.SIGKILL else "finished")

        rerun = run_cli(*args)
        assert rerun.returncode == 0, (trial, rerun.stdout, rerun.stderr)
        assert_nothing_lost(before, root, snapshot(sources))
        store = RunStore(StorageRoot(root).open())
        for run_dir in (root / "json" / "2026-02-19" / "5c1e0d7e_2026-02-19").iterdir():
            assert store.index.get(run_dir.name) is not None, (trial, run_dir.name)
        favorites = json.loads((root / "json" / "favorites.json").read_text())["favorites"]
        assert [f["run_id"] for f in favorites] == ["a", "b", "c"]
        assert json.loads(run_cli(*args).stdout)["changed"] is False, trial
        shutil.rmtree(base)
    assert outcomes.count("killed") >= 10, outcomes


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs (another filesystem than tmp_path's); skipped where mounting is refused."""
    point = tmp_path / "mnt"
    point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128m,nr_inodes=4000", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_cross_filesystem_copies_verified_and_leaves_sources(
    template: Path, tmp_path: Path, mount: Path
) -> None:
    sources = copy_template(template, tmp_path / "src")
    before = snapshot(sources)
    root = mount / "storage"

    report = migrate([str(s) for s in sources], root)

    assert {s["mode"] for s in report["sources"]} == {"copy"}
    assert report["copied"] > 0 and report["renamed"] == 0 and not report["errors"]
    assert snapshot(sources) == before
    assert_nothing_lost(before, root, before)
    assert migrate([str(s) for s in sources], root)["changed"] is False


def test_no_space_is_refused_before_anything_changes(tmp_path: Path, mount: Path) -> None:
    exports = tmp_path / "big" / "exports"
    (exports / "pdf").mkdir(parents=True)
    (exports / "pdf" / "huge.pdf").write_bytes(os.urandom(100 << 20))
    root = mount / "storage"
    with pytest.raises(MigrationError, match="not enough free space"):
        migrate([str(exports)], root)
    assert not root.exists()


def test_disk_full_mid_way_stops_cleanly_and_rerun_completes(
    template: Path, tmp_path: Path, mount: Path
) -> None:
    sources = copy_template(template, tmp_path / "src")
    before = snapshot(sources)
    # Bytes fit; inodes do not: the filesystem fills up half-way through the copy.
    subprocess.run(["mount", "-o", "remount,nr_inodes=150", str(mount)], check=True)
    root = mount / "storage"

    done = run_cli(*migrate_args(sources, root))

    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["stopped"] and report["errors"]
    assert snapshot(sources) == before
    temps = [p for p in root.rglob("*.tmp")]
    assert temps == []
    subprocess.run(["mount", "-o", "remount,nr_inodes=8000", str(mount)], check=True)
    again = run_cli(*migrate_args(sources, root))
    assert again.returncode == 0, again.stdout
    assert_nothing_lost(before, root, before)
