"""Migration of old exports/ trees into one root, on real filesystems (same-fs renames,
copies, conflicts, favorites, legacy data, bad input)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ai4artsed_storage import RunStore, StorageRoot
from ai4artsed_storage._errors import MigrationError
from ai4artsed_storage._journal import Journal
from ai4artsed_storage._kept import SETTLE_NS
from ai4artsed_storage._migrate import migrate
from tests.conftest import cli, cli_argv, make_run, png_bytes
from tests.trees import (
    LAYOUTS,
    add_favorites,
    assert_nothing_lost,
    inventory,
    make_exports,
    run_id_for,
)


@pytest.fixture
def hosts(tmp_path: Path) -> dict[str, Path]:
    """dev and prod checkouts' exports/ trees plus a bare json/ folder, overlapping."""
    dev = make_exports(tmp_path / "ai4artsed_webserver", runs=2)
    prod = tmp_path / "ai4artsed-production" / "exports"
    shutil.copytree(dev, prod, symlinks=True)
    # prod diverged: one conflicting image, one new run, one run moved by the webserver's
    # start-up re-filing (same run_id at another place, same files: a dedup).
    d_run = prod / "json" / "2026-02-19" / "5c1e0d7e_2026-02-19" / run_id_for("D", 0)
    (d_run / "final" / "03_output_image.png").write_bytes(png_bytes("prod-differs"))
    make_run(prod / "json", "D", "run_1740000000000_abcdef", tag="prod-only")
    b_run = prod / "json" / run_id_for("B", 1)
    moved = prod / "json" / "2026-02-19" / "legacy_20260219" / b_run.name
    moved.parent.mkdir(parents=True)
    b_run.rename(moved)
    # the same run_id at another place with different content: kept aside whole.
    make_run(prod / "json", "C", run_id_for("B", 0), tag="prod-variant")
    add_favorites(dev, ["run_a", "run_b"])
    add_favorites(prod, ["run_b", "run_c"])
    (prod / "json" / "outside").symlink_to("/etc/hostname")
    (prod / "json" / "inside").symlink_to("favorites.json")
    bare = tmp_path / "old-backup" / "json"
    make_run(bare, "B", "run_1700000000000_000001", tag="bare")
    make_run(bare, "A", run_id_for("A", 0))  # identical to dev's
    return {"dev": dev, "prod": prod, "bare": bare}


def snapshot(hosts: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {
        "ai4artsed_webserver": inventory(hosts["dev"]),
        "ai4artsed-production": inventory(hosts["prod"]),
        "old-backup": inventory(hosts["bare"], "json/"),
    }


def sources(hosts: dict[str, Path]) -> list[str]:
    return [str(hosts["dev"]), str(hosts["prod"]), str(hosts["bare"])]


def all_run_ids(hosts: dict[str, Path]) -> set[str]:
    ids = {run_id_for(layout, n) for layout in LAYOUTS for n in range(2)}
    return ids | {"run_1740000000000_abcdef", "run_1700000000000_000001"}


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "rename"])
def test_everything_arrives_and_rerun_does_nothing(
    hosts: dict[str, Path], tmp_path: Path, copy: bool
) -> None:
    root = tmp_path / "storage"
    before = snapshot(hosts)

    report = migrate(sources(hosts), root, copy=copy)

    assert report["changed"] and not report["errors"]
    assert_nothing_lost(before, root, snapshot(hosts))
    if copy:
        assert snapshot(hosts) == before, "--copy must leave sources byte-for-byte intact"
        assert report["copied"] > 0 and report["renamed"] == 0
    else:
        assert report["plan"]["run_folder_renames"] > 0 and report["copied"] == 0
    store = RunStore(StorageRoot(root).open())
    for run_id in all_run_ids(hosts):
        assert store.index.get(run_id) is not None, run_id
        assert store.locate(run_id).is_dir()
    # first source wins, the other is kept aside and reported; never an overwrite
    d_rel = f"json/2026-02-19/5c1e0d7e_2026-02-19/{run_id_for('D', 0)}/final/03_output_image.png"
    assert (root / d_rel).read_bytes() == png_bytes(f"{run_id_for('D', 0)}:0:")
    aside = root / ".conflicts" / "ai4artsed-production" / d_rel
    assert aside.read_bytes() == png_bytes("prod-differs")
    assert {"source": "ai4artsed-production", "relpath": d_rel, "kept_at": str(aside)} in report[
        "conflicts"
    ]
    variant = f".conflicts/ai4artsed-production/json/2026-02-19/{run_id_for('B', 0)}/metadata.json"
    assert (root / variant).is_file()
    favorites = json.loads((root / "json" / "favorites.json").read_text())["favorites"]
    assert [f["run_id"] for f in favorites] == ["run_a", "run_b", "run_c"]
    assert os.readlink(root / "json" / "inside") == "favorites.json"
    assert not (root / "json" / "outside").exists()
    assert any("outside" in s["path"] for s in report["skipped"])
    assert (root / "nobody-remembers.bin").is_file()
    assert (root / "uploads_tmp" / "masks" / "m1.png").is_file()
    for path in (root / "json").rglob("*"):
        if not path.is_symlink():
            assert path.stat().st_mode & 0o777 == (0o750 if path.is_dir() else 0o640), path

    again = migrate(sources(hosts), root, copy=copy)
    assert again["changed"] is False
    assert again["copied"] == again["renamed"] == 0
    assert again["conflicts"] == [] and again["errors"] == []
    assert_nothing_lost(before, root, snapshot(hosts))


def test_dry_run_prints_the_plan_and_changes_nothing(
    hosts: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "storage"
    before = snapshot(hosts)
    code, report = cli("migrate", *sources(hosts), "--to", str(root), "--dry-run", "--copy")
    assert code == 0, report
    assert report["dry_run"] and not report["changed"]
    plan = report["plan"]
    assert plan["copies"] > 0 and plan["conflicts"] >= 2 and plan["deduplicated"] > 0
    assert plan["bytes_to_copy"] > 0 and report["runs"] > 0
    assert not root.exists()
    assert snapshot(hosts) == before


def test_json_report_shape_for_ansible(hosts: dict[str, Path], tmp_path: Path) -> None:
    code, report = cli("migrate", *sources(hosts), "--to", str(tmp_path / "storage"))
    assert code == 0
    for key in ("changed", "dry_run", "sources", "runs", "files", "bytes", "copied"):
        assert key in report
    for key in ("renamed", "deduplicated", "conflicts", "errors", "retired", "plan"):
        assert key in report
    code, again = cli("migrate", *sources(hosts), "--to", str(tmp_path / "storage"))
    assert code == 0 and again["changed"] is False


def test_bad_input_is_refused_and_changes_nothing(hosts: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "storage"
    code, report = cli("migrate", str(tmp_path / "missing"), "--to", str(root))
    assert code == 1 and "does not exist" in report["stderr"]
    assert not root.exists()
    inner = root / "json"
    inner.mkdir(parents=True)
    code, report = cli("migrate", str(inner), "--to", str(root))
    assert code == 1 and "inside the storage root" in report["stderr"]
    code, report = cli("migrate", str(tmp_path), "--to", str(root))
    assert code == 1 and "inside source" in report["stderr"]
    assert not (root / ".ai4artsed").exists()
    with pytest.raises(MigrationError):
        migrate([str(hosts["dev"])], Path("relative/root"))


def test_symlink_left_by_deploy_is_skipped(hosts: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "storage"
    migrate([str(hosts["dev"])], root)
    checkout = tmp_path / "ai4artsed_webserver"
    shutil.rmtree(checkout / "exports")
    (checkout / "exports").symlink_to(root)
    report = migrate([str(checkout / "exports")], root)
    assert report["skipped_sources"][0]["reason"].startswith("resolves into the root")
    assert not report["changed"]


def test_pre_exports_data_goes_under_legacy(tmp_path: Path) -> None:
    checkout = tmp_path / "ai4artsed-production"
    exports = make_exports(checkout)
    old_run = checkout / "devserver" / "pipeline_runs" / "3f2a9c1e-0000-4000-8000-000000000001"
    old_run.mkdir(parents=True)
    (old_run / "output.png").write_bytes(png_bytes("nov"))
    media = checkout / "media_storage" / "runs" / "3f2a9c1e-0000-4000-8000-000000000002"
    media.mkdir(parents=True)
    (media / "image.png").write_bytes(png_bytes("media"))
    root = tmp_path / "storage"
    before = {"ai4artsed-production": inventory(exports)}
    before["ai4artsed-production"].update(
        inventory(checkout / "devserver", "legacy/ai4artsed-production/devserver/")
    )
    before["ai4artsed-production"].update(
        inventory(checkout / "media_storage", "legacy/ai4artsed-production/media_storage/")
    )

    report = migrate([str(exports)], root, copy=True)

    assert {s["kind"] for s in report["sources"]} == {"exports", "legacy"}
    legacy = root / "legacy" / "ai4artsed-production"
    assert (
        legacy / "devserver/pipeline_runs" / old_run.name / "output.png"
    ).read_bytes() == png_bytes("nov")
    assert (legacy / "media_storage/runs" / media.name / "image.png").is_file()
    assert_nothing_lost(before, root, {})
    # the checkout itself as SRC names the same data
    again = migrate([str(checkout)], root, copy=True)
    assert not again["changed"]


def test_retire_renames_finished_sources_and_rerun_skips_them(
    hosts: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "storage"
    before = snapshot(hosts)
    report = migrate(sources(hosts), root, retire=True, copy=True)
    assert len(report["retired"]) == 3
    for item in report["retired"]:
        assert ".migrated-" in item["renamed_to"] and Path(item["renamed_to"]).is_dir()
        assert not Path(item["path"]).exists()
    renamed = {Path(r["path"]): Path(r["renamed_to"]) for r in report["retired"]}
    assert inventory(renamed[hosts["dev"]]) == before["ai4artsed_webserver"]
    again = migrate(sources(hosts), root, retire=True)
    assert not again["changed"] and len(again["skipped_sources"]) == 3


def test_owner_and_modes(hosts: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "storage"
    migrate([str(hosts["dev"])], root, owner="nobody:nogroup")
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            assert path.stat().st_uid == 65534, path
    with pytest.raises(MigrationError, match="unknown owner"):
        migrate([str(hosts["dev"])], root, owner="no-such-user-x:root")


def migrate_without_dac_override(*args: str) -> tuple[int, dict[str, Any]]:
    """The CLI as root minus the capabilities that read any file, so mode 000 means EACCES."""
    done = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            *cli_argv("migrate", *args, "--json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_unreadable_file_is_reported_left_in_place_rest_goes_on(tmp_path: Path) -> None:
    exports = make_exports(tmp_path / "checkout")
    secret = exports / "json" / run_id_for("B", 0) / "01_input.txt"
    secret.chmod(0o000)
    root = tmp_path / "storage"

    code, report = migrate_without_dac_override(str(exports), "--to", str(root), "--copy")

    assert code == 2, report
    assert [e["path"] for e in report["errors"]] == [str(secret)]
    assert secret.exists()
    assert (root / "json" / run_id_for("B", 0) / "metadata.json").is_file()
    assert (root / "nobody-remembers.bin").is_file()
    assert not (root / "json" / run_id_for("B", 0) / "01_input.txt").exists()
    secret.chmod(0o640)
    code, report = migrate_without_dac_override(str(exports), "--to", str(root), "--copy")
    assert code == 0, report
    assert (root / "json" / run_id_for("B", 0) / "01_input.txt").read_text() == "a cat"


def test_fresh_root_same_fs_moves_whole_folders(tmp_path: Path) -> None:
    """A fresh root costs a handful of folder renames, not one per file or run, and what
    arrived has the root's modes, owner and index entries."""
    exports = make_exports(tmp_path / "checkout", runs=3)
    add_favorites(exports, ["run_a"])
    before = {"checkout": inventory(exports)}
    root = tmp_path / "storage"

    report = migrate([str(exports)], root, owner="nobody:nogroup")

    plan = report["plan"]
    assert not report["errors"] and report["copied"] == 0
    # json/<date> folders, legacy run folders in json/, uploads_tmp/masks, html/session...
    assert plan["folder_renames"] < 40 < report["renamed"]
    assert plan["run_folder_renames"] == report["runs"]
    assert_nothing_lost(before, root, {"checkout": inventory(exports)})
    for path in (root / "json").rglob("*"):
        assert path.stat().st_uid == 65534, path
        assert path.stat().st_mode & 0o777 == (0o750 if path.is_dir() else 0o640), path
    store = RunStore(StorageRoot(root).open())
    for layout in LAYOUTS:
        for number in range(3):
            assert store.locate(run_id_for(layout, number)).is_dir()
    # favorites.json is merged, never moved: its folder json/ did not move whole.
    assert (exports / "json" / "favorites.json").is_file()


def test_folder_with_something_to_leave_does_not_move_whole(tmp_path: Path) -> None:
    """A symlink leaving the source or a temp file deep inside a dated folder stops that
    folder (and the run holding it) from moving whole: both stay in the source, reported,
    the rest of the folder still moves."""
    exports = make_exports(tmp_path / "checkout")
    d_run = exports / "json" / "2026-02-19" / "5c1e0d7e_2026-02-19" / run_id_for("D", 0)
    (d_run / "final" / "escape.png").symlink_to("/etc/hostname")
    temp = d_run / ".03_output_image.png.0123456789ab.tmp"
    temp.write_bytes(b"half")
    before = {"checkout": inventory(exports)}
    root = tmp_path / "storage"

    report = migrate([str(exports)], root)

    skipped = {item["path"] for item in report["skipped"]}
    assert {str(d_run / "final" / "escape.png"), str(temp)} <= skipped
    assert (d_run / "final" / "escape.png").is_symlink() and temp.is_file()
    moved = root / d_run.relative_to(exports)
    assert (moved / "metadata.json").is_file() and not (moved / "final" / "escape.png").exists()
    assert not any(p.name.endswith(".tmp") for p in root.rglob("*"))
    assert_nothing_lost(before, root, {"checkout": inventory(exports)})
    assert migrate([str(exports)], root)["changed"] is False


def test_rerun_trusts_unchanged_folders_but_sees_in_place_rewrites(tmp_path: Path) -> None:
    """A clean copy notes its source folders as verified; a rerun skips listing them while
    their signature holds, yet still sees metadata.json rewritten in place (which leaves
    the folder's signature alone) and a file added to a folder."""
    exports = make_exports(tmp_path / "checkout", runs=2)
    original = inventory(exports)
    time.sleep(SETTLE_NS / 1e9 + 0.1)  # folders changed just now are not trusted
    root = tmp_path / "storage"
    migrate([str(exports)], root, copy=True)
    journal = Journal(root / ".ai4artsed" / "migrate-journal.sqlite3", readonly=True)
    trusted = journal.folders()
    journal.close()
    assert str(exports / "json" / run_id_for("B", 0)) in trusted

    again = migrate([str(exports)], root, copy=True)
    assert again["changed"] is False and again["already_migrated"] == again["files"]
    # The root side is held too: a file deleted there is copied again.
    (root / "json" / run_id_for("B", 1) / "metadata.json").unlink()
    healed = migrate([str(exports)], root, copy=True)
    assert (
        healed["copied"] == 1 and (root / "json" / run_id_for("B", 1) / "metadata.json").is_file()
    )

    run = exports / "json" / run_id_for("B", 0)
    with (run / "metadata.json").open("r+b") as handle:  # as the webserver does
        handle.truncate(0)
        handle.write(b'{"run_id": "rewritten in place"}')
    (run / "07_output_image.png").write_bytes(png_bytes("added later"))
    before = {"checkout": inventory(exports), "first": original}

    third = migrate([str(exports)], root, copy=True)

    assert third["changed"] and third["copied"] == 2, third
    assert (root / "json" / run.name / "07_output_image.png").read_bytes() == png_bytes(
        "added later"
    )
    aside = root / ".conflicts" / "checkout" / "json" / run.name / "metadata.json"
    assert aside.read_bytes() == b'{"run_id": "rewritten in place"}'
    assert_nothing_lost(before, root, {"checkout": inventory(exports)})


def test_journal_of_an_older_version_is_read_by_dry_run_and_completed(tmp_path: Path) -> None:
    """A journal written before the ``folders`` table existed: a dry run (read-only) and a
    real run both work with it; the dry run leaves the file as it was."""
    exports = make_exports(tmp_path / "checkout", runs=1)
    root = tmp_path / "storage"
    migrate([str(exports)], root, copy=True)
    journal_path = root / ".ai4artsed" / "migrate-journal.sqlite3"
    with sqlite3.connect(journal_path) as old:
        old.execute("DROP TABLE folders")
    before = journal_path.read_bytes()

    plan = migrate([str(exports)], root, copy=True, dry_run=True)
    assert plan["changed"] is False
    assert journal_path.read_bytes() == before
    assert migrate([str(exports)], root, copy=True)["changed"] is False


@pytest.mark.parametrize("index", ["left", "gone"])
def test_a_journal_left_by_a_killed_writer_is_read_without_writing_it(
    tmp_path: Path, index: str
) -> None:
    """kill -9 leaves the journal's write-ahead log (and maybe not its index, after a
    reboot) for the next writer to recover; the read-only reading before a rerun (and a
    dry run) must still see its rows, and change nothing."""
    path = tmp_path / "migrate-journal.sqlite3"
    writer = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from ai4artsed_storage._journal import FileRecord, Journal\n"
        "journal = Journal(Path(sys.argv[1]))\n"
        "journal.intend([FileRecord('/src/a', 1, 2, 'json/a', None, None, 'copy', 'intent')])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", writer, str(path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    if index == "gone":
        Path(f"{path}-shm").unlink()
    left = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert f"{path.name}-wal" in left

    journal = Journal(path, readonly=True)
    try:
        assert list(journal.files()) == ["/src/a"]
    finally:
        journal.close()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == left
