"""Migration under hostile conditions: kill -9 at random points, another filesystem, a full
disk. After each, the same command finishes and nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ai4artsed_storage import RunStore, StorageRoot
from ai4artsed_storage._errors import MigrationError
from ai4artsed_storage._migrate import migrate
from tests.conftest import make_run
from tests.trees import add_favorites, assert_nothing_lost, inventory, make_exports


def command(sources: list[Path], root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ai4artsed_storage",
        "migrate",
        *map(str, sources),
        "--to",
        str(root),
        "--json",
        *extra,
    ]


def build(base: Path) -> tuple[list[Path], dict[str, dict[str, str]]]:
    dev = make_exports(base / "dev", runs=6)
    prod = make_exports(base / "prod", runs=4, tag="p")
    for number in range(20):
        make_run(prod / "json", "D", f"run_17400000000{number:02d}_abcdef", images=3, tag="p")
    add_favorites(dev, ["a", "b"])
    add_favorites(prod, ["b", "c"])
    return [dev, prod], {"dev": inventory(dev), "prod": inventory(prod)}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("template")
    build(base)
    return base


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_finishes(template: Path, tmp_path: Path) -> None:
    rng = random.Random(4)
    outcomes: list[str] = []
    for trial in range(20):
        base = tmp_path / f"t{trial}"
        shutil.copytree(template, base, symlinks=True)
        sources = [base / "dev" / "exports", base / "prod" / "exports"]
        before = {"dev": inventory(sources[0]), "prod": inventory(sources[1])}
        root = base / "storage"
        extra = ("--copy",) if trial % 2 else ()
        child = subprocess.Popen(command(sources, root, *extra), stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.9))
        child.send_signal(signal.SIGKILL)
        outcomes.append("killed" if child.wait() == -signal.SIGKILL else "finished")

        rerun = subprocess.run(
            command(sources, root, *extra), capture_output=True, text=True, check=False
        )
        assert rerun.returncode == 0, (trial, rerun.stdout, rerun.stderr)
        after = {"dev": inventory(sources[0]), "prod": inventory(sources[1])}
        assert_nothing_lost(before, root, after)
        store = RunStore(StorageRoot(root).open())
        for run_dir in (root / "json" / "2026-02-19" / "5c1e0d7e_2026-02-19").iterdir():
            assert store.index.get(run_dir.name) is not None, (trial, run_dir.name)
        favorites = json.loads((root / "json" / "favorites.json").read_text())["favorites"]
        assert [f["run_id"] for f in favorites] == ["a", "b", "c"]
        final = json.loads(
            subprocess.run(
                command(sources, root, *extra), capture_output=True, text=True, check=False
            ).stdout
        )
        assert final["changed"] is False, trial
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
    shutil.copytree(template, tmp_path / "src", symlinks=True)
    sources = [tmp_path / "src" / "dev" / "exports", tmp_path / "src" / "prod" / "exports"]
    before = {"dev": inventory(sources[0]), "prod": inventory(sources[1])}
    root = mount / "storage"

    report = migrate([str(s) for s in sources], root)

    assert {s["mode"] for s in report["sources"]} == {"copy"}
    assert report["copied"] > 0 and report["renamed"] == 0 and not report["errors"]
    assert {"dev": inventory(sources[0]), "prod": inventory(sources[1])} == before
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
    shutil.copytree(template, tmp_path / "src", symlinks=True)
    sources = [tmp_path / "src" / "dev" / "exports", tmp_path / "src" / "prod" / "exports"]
    before = {"dev": inventory(sources[0]), "prod": inventory(sources[1])}
    # Bytes fit; inodes do not: the filesystem fills up half-way through the copy.
    subprocess.run(["mount", "-o", "remount,nr_inodes=150", str(mount)], check=True)
    root = mount / "storage"

    done = subprocess.run(command(sources, root), capture_output=True, text=True, check=False)

    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["stopped"] and report["errors"]
    assert {"dev": inventory(sources[0]), "prod": inventory(sources[1])} == before
    temps = [p for p in root.rglob("*.tmp")]
    assert temps == []
    subprocess.run(["mount", "-o", "remount,nr_inodes=8000", str(mount)], check=True)
    again = subprocess.run(command(sources, root), capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout
    assert_nothing_lost(before, root, before)
