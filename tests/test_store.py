"""Finding runs of every layout by id, and the index repairing itself."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ai4artsed_storage import InvalidRunId, RunNotFound, RunStore
from tests.conftest import make_run, png_bytes

LAYOUTS = ["A", "A-nometa", "A+B", "B", "C", "D", "canvas"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_found_and_its_image_resolves(store: RunStore, layout: str) -> None:
    run_id = f"run_1739974401123_9f3a1c_{layout.replace('+', '').replace('-', '_')}"
    folder = make_run(store.root.json_dir, layout, run_id)

    run = store.get(run_id)

    assert run.path == folder
    images = run.entities_of("output_image")
    assert images, f"{layout}: no image entity"
    path = run.entity_path(images[-1])
    assert path is not None
    assert path.read_bytes()[:8] == png_bytes()[:8]


def test_layout_names(store: RunStore) -> None:
    expected = {
        "A": "A",
        "A-nometa": "A",
        "A+B": "A+B",
        "B": "B",
        "C": "C",
        "D": "D",
        "canvas": "canvas",
    }
    for layout, name in expected.items():
        run_id = f"r_{layout.replace('+', 'x').replace('-', '_')}"
        make_run(store.root.json_dir, layout, run_id)
        assert store.get(run_id).layout == name


def test_unknown_metadata_keys_and_schema_alias(store: RunStore) -> None:
    make_run(store.root.json_dir, "A", "old")
    make_run(store.root.json_dir, "D", "new")
    assert store.get("old").config_name == "dada"
    assert store.get("new").config_name == "sd35_large"
    assert store.get("new").metadata["future_key"] == [1, 2, 3]


def test_a_plus_b_serves_numbered_image_as_latest(store: RunStore) -> None:
    make_run(store.root.json_dir, "A+B", "mixed", images=2)
    run = store.get("mixed")
    images = run.entities_of("output_image")
    assert [e.filename for e in images] == [
        "output_image.png",
        "03_output_image.png",
        "04_output_image.png",
    ]


def test_run_moved_by_webserver_startup_is_found_again(store: RunStore) -> None:
    folder = make_run(store.root.json_dir, "B", "moved_run")
    assert store.locate("moved_run") == folder
    assert store.index.get("moved_run") == "moved_run"
    # What the webserver does at every start with non-date folders of json/.
    target = store.root.json_dir / "2026-02-19" / "legacy_20260219" / "moved_run"
    target.parent.mkdir(parents=True)
    shutil.move(folder, target)

    assert store.locate("moved_run") == target
    assert store.index.get("moved_run") == "2026-02-19/legacy_20260219/moved_run"


def test_missing_run_and_stale_index_entry(store: RunStore) -> None:
    with pytest.raises(RunNotFound):
        store.locate("nope")
    folder = make_run(store.root.json_dir, "C", "gone")
    store.locate("gone")
    shutil.rmtree(folder)
    with pytest.raises(RunNotFound):
        store.locate("gone")
    assert store.index.get("gone") is None


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "a\x00b", "x" * 129, "", "a b", "é"])
def test_unsafe_run_ids_never_touch_the_disk(store: RunStore, bad: str) -> None:
    with pytest.raises(InvalidRunId):
        store.locate(bad)


def test_symlinked_entity_escaping_the_run_is_refused(store: RunStore, tmp_path: Path) -> None:
    folder = make_run(store.root.json_dir, "D", "sneaky")
    canary = tmp_path / "canary.png"
    canary.write_bytes(png_bytes("canary"))
    target = folder / "final" / "03_output_image.png"
    target.unlink()
    target.symlink_to(canary)
    run = store.get("sneaky")
    assert run.entity_path(run.entities_of("output_image")[0]) is None


def test_reindex_finds_every_layout(store: RunStore) -> None:
    for layout in LAYOUTS:
        make_run(store.root.json_dir, layout, f"id_{layout.replace('+', 'x').replace('-', '_')}")
    assert store.reindex() == len(LAYOUTS)
    assert store.count() == len(LAYOUTS)


def _age(run_dir: Path) -> None:
    """Date the run's folder, final/ and metadata.json an hour back, as a migrated run is."""
    then = time.time() - 3600
    for path in (run_dir, run_dir / "final", run_dir / "metadata.json"):
        if path.exists():
            os.utime(path, (then, then))


def test_a_settled_run_is_kept_until_it_changes(store: RunStore) -> None:
    folder = make_run(store.root.json_dir, "D", "settled", images=1)
    _age(folder)
    first = store.get("settled")
    assert store.get("settled") is first

    (folder / "final" / "04_output_image.png").write_bytes(png_bytes("added later"))
    added = store.get("settled")
    assert added is not first
    assert [e.filename for e in added.entities_of("output_image")][-1] == "04_output_image.png"

    _age(folder)
    kept = store.get("settled")
    replacement = folder / ".metadata.json.tmp"
    replacement.write_text(json.dumps({**kept.metadata, "user_id": "rewritten"}))
    os.replace(replacement, folder / "metadata.json")
    assert store.get("settled").metadata["user_id"] == "rewritten"


def test_a_run_still_being_written_is_read_every_time(store: RunStore) -> None:
    make_run(store.root.json_dir, "D", "fresh")
    assert store.get("fresh") is not store.get("fresh")


def test_a_kept_run_that_moved_is_found_at_its_new_place(store: RunStore) -> None:
    folder = make_run(store.root.json_dir, "B", "wanders")
    _age(folder)
    assert store.get("wanders") is store.get("wanders")
    target = store.root.json_dir / "2026-02-19" / "legacy_20260219" / "wanders"
    target.parent.mkdir(parents=True)
    shutil.move(folder, target)
    assert store.get("wanders").path == target
