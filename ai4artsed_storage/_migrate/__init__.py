"""Migration of old exports/ trees (and pre-exports data) into one storage root.

:func:`migrate` is the whole job: resolve the sources, take the root's migration lock, plan
once against the journal, check free space, apply. The plan is built under the lock because
it decides which folders move whole by looking at the root, and only the lock keeps the
root as seen. A dry run takes no lock: it is read-only by design and may see a root that
another migration is changing. The report is plain data; ``ai4artsed-storage migrate
--json`` prints it as is.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ai4artsed_storage._atomic import atomic_write_bytes, atomic_write_json, make_dirs
from ai4artsed_storage._errors import MigrationError
from ai4artsed_storage._journal import DONE, FileRecord, Journal
from ai4artsed_storage._lock import locked
from ai4artsed_storage._migrate import _trust
from ai4artsed_storage._migrate._apply import Applier, Outcome, Progress
from ai4artsed_storage._migrate._fs import Ownership, rename_noreplace
from ai4artsed_storage._migrate._plan import Plan, Planner
from ai4artsed_storage._migrate._sources import Skipped, Unit, resolve_sources
from ai4artsed_storage._migrate._walk import FAVORITES
from ai4artsed_storage._root import CONFLICTS_FOLDER, StorageRoot
from ai4artsed_storage._store import RunStore

JOURNAL_NAME = "migrate-journal.sqlite3"
#: Slack on top of the bytes to copy: block rounding, folders, the journal and index.
_SPACE_SLACK = 64 << 20


def parse_owner(value: str | None) -> Ownership | None:
    """``USER:GROUP`` (names or numbers) to ids.

    :raises MigrationError: for an unknown user or group.
    """
    if value is None:
        return None
    user, _, group = value.partition(":")
    try:
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        gid = (
            int(group)
            if group.isdigit()
            else grp.getgrnam(group).gr_gid
            if group
            else pwd.getpwuid(uid).pw_gid
        )
    except KeyError as error:
        raise MigrationError(f"unknown owner {value!r}", Path("/etc/passwd")) from error
    return Ownership(uid, gid)


def _journal_path(root: Path) -> Path:
    return StorageRoot(root).state_dir / JOURNAL_NAME


def _already_retired(specs: Sequence[str], root: Path) -> tuple[list[str], list[Skipped]]:
    """Sources a previous run renamed with --retire: a rerun skips them, no error."""
    path = _journal_path(root)
    if not path.exists():
        return list(specs), []
    journal = Journal(path, readonly=True)
    try:
        keep, skipped = [], []
        for spec in specs:
            raw = spec.removeprefix("legacy:").rpartition("=")[2]
            given = Path(raw).absolute()
            renamed = None if given.exists() else journal.retired_to(given)
            if renamed is not None and Path(renamed).exists():
                skipped.append(Skipped(spec, f"already migrated and retired to {renamed}"))
            else:
                keep.append(spec)
        return keep, skipped
    finally:
        journal.close()


def _plan(
    root: Path, units: list[Unit], journal: Journal, copy: bool, owner: Ownership | None
) -> Plan:
    ids = None if owner is None else (owner.uid, owner.gid)
    known = journal.folders()
    return Planner(root, units, journal.files(), copy=copy, owner=ids, known=known).build()


def _check_space(plan: Plan, root: Path) -> None:
    existing = root
    while not existing.exists():
        existing = existing.parent
    vfs = os.statvfs(existing)
    available = vfs.f_bavail * vfs.f_frsize
    needed = plan.bytes_to_copy + 4096 * plan.count("copy") + _SPACE_SLACK
    if needed > available:
        raise MigrationError(
            f"not enough free space: the copy needs {needed} bytes, {available} are free", root
        )


def migrate(
    sources: Sequence[str],
    root: Path,
    *,
    dry_run: bool = False,
    owner: str | None = None,
    retire: bool = False,
    copy: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Migrate *sources* into *root*; returns the report (see ``migrate --help``).

    :param copy: copy even on the root's filesystem, leaving sources byte-for-byte intact
        (by default same-filesystem sources are emptied by verified renames).
    :raises MigrationError: bad input, refused before anything changed.
    """
    if not root.is_absolute():
        raise MigrationError("the storage root must be an absolute path", root)
    ownership = parse_owner(owner)
    specs, skipped_sources = _already_retired(sources, root)
    units, skipped = resolve_sources(specs, root)
    skipped_sources += skipped
    journal_path = _journal_path(root)
    if dry_run:
        preview = Journal(journal_path, readonly=True)
        try:
            plan = _plan(root, units, preview, copy, ownership)
        finally:
            preview.close()
        _check_space(plan, root)
        return _report(plan, None, skipped_sources, [], dry_run=True)
    fresh = not root.exists()
    storage = StorageRoot(root, source="--to").open()
    lock = storage.state_dir / "locks" / "migrate.lock"
    try:
        with locked(lock, blocking=False):
            # Read-only until the space check passed: a refused migration leaves no journal.
            preview = Journal(journal_path, readonly=True)
            try:
                plan = _plan(root, units, preview, copy, ownership)
            finally:
                preview.close()
            try:
                _check_space(plan, root)
            except MigrationError:
                if fresh:
                    _unmake_fresh_root(storage, lock)
                raise
            outcome, indexed, retired = _apply(
                storage, plan, Journal(journal_path), ownership, progress, retire=retire
            )
            if ownership is not None:
                _own_state(storage, ownership)
    except BlockingIOError as error:
        raise MigrationError("another migration is running on this root", root) from error
    report = _report(plan, outcome, skipped_sources, retired, dry_run=False)
    report["indexed"] = indexed
    report["changed"] = bool(report["changed"] or indexed)
    return report


def _apply(
    storage: StorageRoot,
    plan: Plan,
    journal: Journal,
    owner: Ownership | None,
    progress: Progress | None,
    *,
    retire: bool,
) -> tuple[Outcome, int, list[dict[str, str]]]:
    """Apply, merge favorites, index, retire; returns the outcome, runs indexed, retired."""
    try:
        journal.add_runs(plan.runs)
        outcome = Applier(plan, journal, owner, progress).run()
        retired: list[dict[str, str]] = []
        # After a clean stop (disk full) only what is placed gets indexed; the rerun
        # merges favorites and retires.
        if not outcome.stopped:
            outcome.recorded += _merge_favorites(plan, journal, owner, outcome)
        if not (outcome.stopped or outcome.errors or plan.errors):
            # Every file of these folders is now verified: a rerun may skip listing them.
            journal.trust_folders(_trust.settled(plan.trusted))
        indexed = _index(storage, journal)
        if retire and not outcome.stopped:
            retired = _retire(plan, journal, outcome)
    finally:
        journal.close()
    return outcome, indexed, retired


def _unmake_fresh_root(storage: StorageRoot, lock: Path) -> None:
    """Remove the empty folder plan and lock file :meth:`StorageRoot.open` just made in a
    root that did not exist: refused means nothing changed. ``rmdir`` only removes empty
    folders, so nothing else can go."""
    lock.unlink()
    for dirpath, _dirnames, _filenames in os.walk(storage.path, topdown=False):
        with contextlib.suppress(OSError):  # not empty: not ours, left alone
            os.rmdir(dirpath)


def _merge_favorites(
    plan: Plan, journal: Journal, owner: Ownership | None, outcome: Outcome
) -> int:
    """Union of json/favorites.json by run_id, first seen first; returns files merged."""
    if not plan.favorites:
        return 0
    target = plan.root / FAVORITES
    base: dict[str, Any] | None = None
    original = b""
    if target.exists():
        original = target.read_bytes()
        try:
            loaded = json.loads(original)
        except ValueError:
            loaded = None
        base = (
            loaded
            if isinstance(loaded, dict) and isinstance(loaded.get("favorites"), list)
            else None
        )
        if base is None:
            # A root favorites file we cannot read is not overwritten: sources go aside.
            for path, _st, data in plan.favorites:
                unit = next(u for u in plan.units if path.startswith(f"{u.path}/"))
                aside = plan.root / CONFLICTS_FOLDER / unit.label / FAVORITES
                make_dirs(aside.parent)
                atomic_write_json(aside, data)
                outcome.conflicts_aside.append((unit.label, FAVORITES, str(aside)))
            return 0
    merged = dict(base or {"version": "1.0", "mode": "global", "favorites": []})
    favorites = list(merged["favorites"])
    seen = {f.get("run_id") for f in favorites if isinstance(f, dict)}
    for _path, _st, data in plan.favorites:
        for key, value in data.items():
            merged.setdefault(key, value)
        for favorite in data["favorites"]:
            run_id = favorite.get("run_id") if isinstance(favorite, dict) else None
            if run_id is None or run_id not in seen:
                favorites.append(favorite)
                seen.add(run_id)
    merged["favorites"] = favorites
    content = json.dumps(merged, indent=2, ensure_ascii=False).encode("utf-8")
    if content != original:
        atomic_write_bytes(target, content)
        outcome.favorites_written = True
        if owner is not None:
            owner.apply(target)
    journal.done(
        FileRecord(path, st.st_size, st.st_mtime_ns, FAVORITES, None, None, "merge", DONE)
        for path, st, _data in plan.favorites
    )
    return len(plan.favorites)


def _index(storage: StorageRoot, journal: Journal) -> int:
    """Index every migrated run (also those a killed run placed but did not index)."""
    pending = journal.unindexed_runs()
    json_dir = str(storage.json_dir)
    present = [(run_id, rel) for run_id, rel in pending if os.path.isdir(f"{json_dir}/{rel}")]
    if not present:
        return 0
    try:
        RunStore(storage).index.put_many(present)
        journal.mark_indexed(present)
    except (OSError, sqlite3.Error):
        return 0  # disk full: the journal still lists them, the rerun indexes them
    return len(present)


def _retire(plan: Plan, journal: Journal, outcome: Outcome) -> list[dict[str, str]]:
    """Rename each fully migrated source to ``<src>.migrated-<timestamp>`` (never delete)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    retired = []
    for unit in plan.units:
        if unit.label + str(unit.dest) in outcome.failed_units or not unit.path.exists():
            continue
        target = unit.path.with_name(f"{unit.path.name}.migrated-{stamp}")
        journal.record_retired(unit.path, unit.label, target)
        rename_noreplace(unit.path, target)
        retired.append({"source": unit.label, "path": str(unit.path), "renamed_to": str(target)})
    return retired


def _own_state(storage: StorageRoot, owner: Ownership) -> None:
    """The backend runs as --owner: it must write the index and locks the migration made."""
    owner.apply(storage.path)
    for child in storage.path.iterdir():
        owner.apply(child)
    for dirpath, dirnames, filenames in os.walk(storage.state_dir):
        for name in (*dirnames, *filenames):
            owner.apply(Path(dirpath, name))


def _report(
    plan: Plan,
    outcome: Outcome | None,
    skipped_sources: list[Skipped],
    retired: list[dict[str, str]],
    *,
    dry_run: bool,
) -> dict[str, Any]:
    conflicts = [
        {
            "source": a.unit.label,
            "relpath": str(PurePosixPath(*PurePosixPath(a.dst).parts[2:])),
            "kept_at": str(plan.root / a.dst),
        }
        for a in plan.conflicts
    ]
    errors = list(plan.errors)
    result = outcome or Outcome()
    errors += result.errors
    conflicts += [{"source": s, "relpath": r, "kept_at": k} for s, r, k in result.conflicts_aside]
    changed = bool(
        result.copied
        or result.renamed
        or result.linked
        or result.dirs_created
        or result.favorites_written
        or retired
    )
    return {
        "changed": changed,
        "dry_run": dry_run,
        "storage_root": str(plan.root),
        "sources": [
            {
                "label": u.label,
                "kind": u.kind,
                "path": str(u.path),
                "dest": str(plan.root / u.dest),
                "mode": "rename" if u.label + str(u.dest) in plan.rename_units else "copy",
            }
            for u in plan.units
        ],
        "skipped_sources": [{"source": s.given, "reason": s.reason} for s in skipped_sources],
        "runs": plan.run_count,
        "files": plan.file_count,
        "bytes": plan.byte_count,
        "copied": result.copied,
        "renamed": result.renamed,
        "deduplicated": plan.count("dedup", "adopt"),
        "already_migrated": plan.already,
        "conflicts": conflicts,
        "errors": errors,
        "skipped": plan.skipped,
        "retired": retired,
        "stopped": result.stopped,
        "plan": plan.summary(),
    }


__all__ = ["MigrationError", "migrate", "parse_owner"]
