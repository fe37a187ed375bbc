"""Read-only checks of a storage root; ``repair`` only rebuilds the index (a cache).

Problems: metadata that does not parse, entities whose file is missing, index entries that
point nowhere or runs the index lacks, temp litter of interrupted writes, conflicts kept
aside by a migration (listed so a person decides), orphans (files in json/ outside any run).
Nothing here deletes or rewrites user data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ai4artsed_storage._atomic import is_temp_name
from ai4artsed_storage._runs import read_run
from ai4artsed_storage._store import RunStore

#: json/favorites.json is the webserver's own file, not an orphan.
_KNOWN_JSON_FILES = {"favorites.json"}


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, _dirs, names in os.walk(folder):
        found.extend(Path(dirpath, name) for name in names)
    return found


def check(store: RunStore, *, repair: bool = False) -> dict[str, Any]:
    """Check the root of *store*; with *repair*, rebuild the index from the tree first."""
    root = store.root
    reindexed = store.reindex() if repair else None
    runs: dict[str, str] = {}
    duplicates: list[dict[str, str]] = []
    bad_metadata: list[dict[str, str]] = []
    missing_files: list[dict[str, str]] = []
    for run_id, path in store.iter_run_dirs():
        rel = store.relpath(path)
        if run_id in runs:
            duplicates.append({"run_id": run_id, "paths": f"{runs[run_id]} {rel}"})
            continue
        runs[run_id] = rel
        run = read_run(path, run_id, json_depth=len(Path(rel).parts))
        if run.metadata_state == "unreadable":
            bad_metadata.append({"run_id": run_id, "path": str(path / "metadata.json")})
        for entity in run.entities:
            if entity.recorded and run.entity_path(entity) is None:
                missing_files.append({"run_id": run_id, "file": entity.filename})
    index = dict(store.index.items())
    stale = sorted(r for r, rel in index.items() if runs.get(r) != rel)
    unindexed = sorted(r for r in runs if r not in index)
    orphans = sorted(
        str(entry)
        for entry in (root.json_dir.iterdir() if root.json_dir.is_dir() else [])
        if entry.is_file() and entry.name not in _KNOWN_JSON_FILES
    )
    # The state folder holds SQLite's own files; everything else is checked for litter.
    temps = sorted(
        str(path)
        for path in _files_under(root.path)
        if is_temp_name(path.name) and root.state_dir not in path.parents
    )
    conflicts = (
        [str(p) for p in _files_under(root.conflicts_dir)] if root.conflicts_dir.is_dir() else []
    )
    problems = bool(
        bad_metadata or missing_files or stale or unindexed or temps or orphans or duplicates
    )
    return {
        "storage_root": str(root.path),
        "runs": len(runs),
        "indexed": len(index),
        "reindexed": reindexed,
        "bad_metadata": bad_metadata,
        "missing_files": missing_files,
        "index_stale": stale,
        "index_missing": unindexed,
        "duplicate_run_ids": duplicates,
        "orphans": orphans,
        "temp_litter": temps,
        "conflicts": conflicts,
        "ok": not problems and not conflicts,
    }
