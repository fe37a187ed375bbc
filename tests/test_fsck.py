"""fsck on real roots: clean, broken metadata, missing files, stale index, litter, conflicts."""

from __future__ import annotations

from pathlib import Path

from ai4artsed_storage import RunStore
from ai4artsed_storage._fsck import check
from tests.conftest import cli, make_run
from tests.trees import LAYOUTS, run_id_for


def fill(store: RunStore) -> None:
    for layout in LAYOUTS:
        folder = make_run(store.root.json_dir, layout, run_id_for(layout, 0))
        store.record(run_id_for(layout, 0), folder)


def test_clean_root_of_every_layout(store: RunStore) -> None:
    fill(store)
    report = check(store)
    assert report["ok"], report
    assert report["runs"] == report["indexed"] == len(LAYOUTS)


def test_problems_are_found_and_index_repaired(store: RunStore, root_path: Path) -> None:
    fill(store)
    json_dir = store.root.json_dir
    (json_dir / run_id_for("B", 0) / "metadata.json").write_text("{half")
    (
        json_dir
        / "2026-02-19"
        / "5c1e0d7e_2026-02-19"
        / run_id_for("D", 0)
        / "final"
        / "03_output_image.png"
    ).unlink()
    make_run(json_dir, "C", "run_not_in_index")
    store.index.put("run_gone", "run_gone")
    (json_dir / run_id_for("A", 0) / ".output_image.png.0123456789ab.tmp").write_bytes(b"x")
    (json_dir / "stray.txt").write_text("?")
    aside = root_path / ".conflicts" / "prod" / "json" / "x" / "metadata.json"
    aside.parent.mkdir(parents=True)
    aside.write_text("{}")

    code, report = cli("fsck")
    assert code == 1
    assert [b["run_id"] for b in report["bad_metadata"]] == [run_id_for("B", 0)]
    assert report["missing_files"] == [
        {"run_id": run_id_for("D", 0), "file": "03_output_image.png"}
    ]
    assert report["index_missing"] == ["run_not_in_index"]
    assert report["index_stale"] == ["run_gone"]
    assert len(report["temp_litter"]) == 1
    assert report["orphans"] == [str(json_dir / "stray.txt")]
    assert report["conflicts"] == [str(aside)]

    repaired = check(store, repair=True)
    assert repaired["index_missing"] == repaired["index_stale"] == []
    assert store.index.get("run_not_in_index") == "2026-02-19/run_not_in_index"
    assert not repaired["ok"]  # the data problems stay for a person to decide
