"""Deciding, before anything is touched, what happens to every file of every source.

The plan is pure reading (sources, the root, the journal): ``--dry-run`` prints it and the
free-space check sums it. Decisions, in source order, the first claimant of a place wins:
- a file the journal verified earlier and that is unchanged is skipped without hashing;
- a place already taken (in the root or by an earlier source) with the same bytes is a
  dedup; with other bytes a conflict, kept aside under ``.conflicts/<label>/<relpath>``;
- a run_id already placed elsewhere is compared as a whole: same files, dedup; else the
  whole run is kept aside;
- on the same filesystem a run folder whose place is free moves with one rename.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ai4artsed_storage._atomic import is_temp_name
from ai4artsed_storage._ids import is_safe_id
from ai4artsed_storage._journal import DONE, INTENT, FileRecord
from ai4artsed_storage._migrate._fs import sha256_file
from ai4artsed_storage._migrate._sources import Unit
from ai4artsed_storage._root import CONFLICTS_FOLDER
from ai4artsed_storage._store import iter_run_dirs

FAVORITES = "json/favorites.json"

#: Action kinds. "copy"/"rename" place a file, "rename_dir" a whole run folder, "link"
#: recreates a symlink that stays inside its source, "dedup" and "adopt" only record.
COPY, RENAME, RENAME_DIR, LINK, DEDUP, ADOPT = (
    "copy",
    "rename",
    "rename_dir",
    "link",
    "dedup",
    "adopt",
)


@dataclass
class Action:
    kind: str
    unit: Unit
    src: Path
    dst: str  # relative to the root, POSIX
    size: int
    mtime_ns: int
    ino: int
    files: int = 1
    conflict: bool = False
    replace: bool = False
    sha256: str | None = None
    link_target: str | None = None

    def record(self, state: str, temp: str | None = None) -> FileRecord:
        return FileRecord(
            str(self.src),
            self.size,
            self.mtime_ns,
            self.dst,
            temp,
            self.sha256,
            self.kind,
            state,
        )


@dataclass
class _Claim:
    path: Path  # where the bytes can be read now (root file or earlier source file)
    size: int


@dataclass
class Plan:
    root: Path
    units: list[Unit]
    rename_units: set[str]
    actions: list[Action] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)
    runs: list[tuple[str, str]] = field(default_factory=list)
    favorites: list[tuple[Path, os.stat_result, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    stale_temps: list[Path] = field(default_factory=list)
    run_count: int = 0
    file_count: int = 0
    byte_count: int = 0
    already: int = 0

    def count(self, *kinds: str) -> int:
        return sum(a.files for a in self.actions if a.kind in kinds)

    @property
    def bytes_to_copy(self) -> int:
        return sum(a.size for a in self.actions if a.kind == COPY)

    @property
    def conflicts(self) -> list[Action]:
        return [a for a in self.actions if a.conflict and a.kind != DEDUP]

    def summary(self) -> dict[str, Any]:
        return {
            "runs": self.run_count,
            "files": self.file_count,
            "bytes": self.byte_count,
            "copies": self.count(COPY),
            "bytes_to_copy": self.bytes_to_copy,
            "renames": self.count(RENAME, RENAME_DIR),
            "run_folder_renames": sum(1 for a in self.actions if a.kind == RENAME_DIR),
            "links": self.count(LINK),
            "deduplicated": self.count(DEDUP, ADOPT),
            "conflicts": len(self.conflicts),
            "already_migrated": self.already,
            "favorites_merged": len(self.favorites),
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }


@dataclass
class _Entry:
    path: Path
    rel: PurePosixPath
    st: os.stat_result


def _favorites_of(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("favorites"), list):
        return data
    return None


class Planner:
    """Builds a :class:`Plan`; one instance per migration."""

    def __init__(
        self, root: Path, units: list[Unit], journal: dict[str, FileRecord], *, copy: bool
    ) -> None:
        device = _device_of(root)
        rename_units = set()
        if not copy:
            rename_units = {u.label + str(u.dest) for u in units if u.path.stat().st_dev == device}
        self.plan = Plan(root, units, rename_units)
        self.journal = journal
        self.claims: dict[str, _Claim] = {}
        self.run_owner: dict[str, tuple[str, Path]] = {}
        root_json = root / "json"
        if root_json.is_dir():
            for run_id, path in iter_run_dirs(root_json):
                rel = path.relative_to(root_json).as_posix()
                self.run_owner.setdefault(run_id, (rel, path))

    def build(self) -> Plan:
        for unit in self.plan.units:
            self._unit(unit)
        return self.plan

    # -- walking ---------------------------------------------------------------------

    def _renames(self, unit: Unit) -> bool:
        return unit.label + str(unit.dest) in self.plan.rename_units

    def _unit(self, unit: Unit) -> None:
        run_dirs: dict[Path, str] = {}
        if unit.json_dir is not None and unit.json_dir.is_dir():
            for run_id, path in iter_run_dirs(unit.json_dir):
                if is_safe_id(run_id):
                    run_dirs[path] = run_id
        if unit.dest.parts:
            self.plan.dirs.add(str(unit.dest))
        for entry in self._walk(unit, unit.path, PurePosixPath(), run_dirs, self.plan.dirs):
            self._place(unit, entry)

    def _walk(
        self,
        unit: Unit,
        folder: Path,
        rel: PurePosixPath,
        run_dirs: dict[Path, str],
        dirs: set[str],
    ) -> Iterator[_Entry]:
        """Regular files below *folder*; runs are handed to :meth:`_run` on the way, the
        folders to create in the root are added to *dirs*."""
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as error:
            self.plan.errors.append({"path": str(folder), "error": _why(error)})
            return
        for entry in entries:
            path, child = Path(entry.path), rel / entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as error:
                self.plan.errors.append({"path": entry.path, "error": _why(error)})
                continue
            if stat.S_ISDIR(st.st_mode):
                if path in run_dirs:
                    self._run(unit, path, child, run_dirs[path])
                else:
                    if not self._renames(unit):
                        # Empty folders are recreated by copies only: renames leave emptied
                        # folders behind, which must not turn into phantom runs in the root.
                        dirs.add(str(unit.dest / child))
                    yield from self._walk(unit, path, child, run_dirs, dirs)
            elif stat.S_ISREG(st.st_mode):
                self.plan.file_count += 1
                self.plan.byte_count += st.st_size
                yield _Entry(path, child, st)
            elif stat.S_ISLNK(st.st_mode):
                self._symlink(unit, path, child, st)
            else:
                self._skip(path, "not a regular file, directory or symlink; left in place")

    def _skip(self, path: Path, reason: str) -> None:
        self.plan.skipped.append({"path": str(path), "reason": reason})

    def _symlink(self, unit: Unit, path: Path, rel: PurePosixPath, st: os.stat_result) -> None:
        target = os.readlink(path)
        record = self.journal.get(str(path))
        if (
            record is not None
            and record.state == DONE
            and os.path.lexists(self.plan.root / record.dst)
        ):
            self.plan.already += 1
            return
        real = path.resolve()
        if os.path.isabs(target) or (real != unit.path and unit.path not in real.parents):
            self._skip(path, f"symlink to {target} leaves the source; recorded, not followed")
            return
        dst = str(unit.dest / rel)
        if os.path.lexists(self.plan.root / dst) or dst in self.claims:
            self._skip(path, f"symlink to {target}: its place in the root is taken")
            return
        self.claims[dst] = _Claim(path, 0)
        self.plan.actions.append(
            Action(LINK, unit, path, dst, 0, st.st_mtime_ns, st.st_ino, link_target=target)
        )

    # -- runs ------------------------------------------------------------------------

    def _run(self, unit: Unit, path: Path, rel: PurePosixPath, run_id: str) -> None:
        self.plan.run_count += 1
        before = len(self.plan.skipped) + len(self.plan.errors) + len(self.plan.actions)
        dst = unit.dest / rel
        run_dirs = {str(dst)}
        entries = list(self._walk(unit, path, rel, {}, run_dirs))
        # Links, unreadable or odd files inside: the folder cannot move as one piece.
        clean = before == len(self.plan.skipped) + len(self.plan.errors) + len(self.plan.actions)
        json_rel = dst.relative_to("json").as_posix()
        if entries and all(self._verified_before(e) for e in entries):
            self.plan.already += len(entries)
            for entry in entries:
                self.claims[self.journal[str(entry.path)].dst] = _Claim(entry.path, 0)
            return
        owner = self.run_owner.get(run_id)
        if owner is not None and owner[0] != json_rel:
            # The same run_id at another place: one run, or two that must not be mixed.
            same = _digest(owner[1]) == _digest(path)
            for entry in entries:
                if self._verified_before(entry):
                    self.plan.already += 1
                elif same:
                    inner = entry.rel.relative_to(rel)
                    self._add(DEDUP, unit, entry, str(PurePosixPath("json", owner[0], inner)))
                else:
                    self._conflict(unit, entry, str(unit.dest / entry.rel))
            return
        self.run_owner[run_id] = (json_rel, path)
        self.plan.runs.append((run_id, json_rel))
        if (
            owner is None
            and clean
            and self._renames(unit)
            and not os.path.lexists(self.plan.root / dst)
        ):
            for entry in entries:
                self.claims[str(unit.dest / entry.rel)] = _Claim(entry.path, entry.st.st_size)
            st = path.stat()
            self.plan.actions.append(
                Action(
                    RENAME_DIR,
                    unit,
                    path,
                    str(dst),
                    sum(e.st.st_size for e in entries),
                    st.st_mtime_ns,
                    st.st_ino,
                    files=len(entries),
                )
            )
            return
        self.plan.dirs |= run_dirs
        for entry in entries:
            self._place(unit, entry)

    # -- files -----------------------------------------------------------------------

    def _verified_before(self, entry: _Entry) -> bool:
        record = self.journal.get(str(entry.path))
        if record is None or record.state != DONE:
            return False
        if (record.size, record.mtime_ns) != (entry.st.st_size, entry.st.st_mtime_ns):
            return False
        if record.action == "merge":
            return True
        try:
            return (self.plan.root / record.dst).lstat().st_size == record.size
        except OSError:
            return False

    def _place(self, unit: Unit, entry: _Entry) -> None:
        """Decide one file: skip, merge, resume, place, dedup or keep aside."""
        if is_temp_name(entry.path.name):
            self._skip(entry.path, "temp file of an unfinished write; left in place")
            return
        if self._verified_before(entry):
            self.plan.already += 1
            self.claims[self.journal[str(entry.path)].dst] = _Claim(entry.path, 0)
            return
        dst = str(unit.dest / entry.rel)
        if dst == FAVORITES:
            favorites = _favorites_of(entry.path)
            if favorites is not None:
                self.plan.favorites.append((entry.path, entry.st, favorites))
                return
        record = self.journal.get(str(entry.path))
        if record is not None and record.state == INTENT:
            if record.temp:
                self.plan.stale_temps.append(self.plan.root / record.temp)
            if record.action == COPY and self._resume(unit, entry, record):
                return
        claim = self._claim_at(dst)
        if claim is None:
            self.claims[dst] = _Claim(entry.path, entry.st.st_size)
            self._add(RENAME if self._renames(unit) else COPY, unit, entry, dst)
        elif _same(claim, entry):
            self._add(DEDUP, unit, entry, dst)
        else:
            self._conflict(unit, entry, dst)

    def _resume(self, unit: Unit, entry: _Entry, record: FileRecord) -> bool:
        """A copy this migration began earlier: adopt it if complete, else redo it."""
        target = self.plan.root / record.dst
        if not os.path.lexists(target) or record.dst in self.claims:
            return False
        self.claims[record.dst] = _Claim(entry.path, entry.st.st_size)
        conflict = record.dst.startswith(CONFLICTS_FOLDER + "/")
        if sha256_file(target) == sha256_file(entry.path):
            self._add(ADOPT, unit, entry, record.dst, conflict=conflict)
        else:
            self._add(COPY, unit, entry, record.dst, conflict=conflict, replace=True)
        return True

    def _conflict(self, unit: Unit, entry: _Entry, dst: str) -> None:
        aside = str(PurePosixPath(CONFLICTS_FOLDER, unit.label, dst))
        claim = self._claim_at(aside)
        if claim is not None:
            if _same(claim, entry):
                self._add(DEDUP, unit, entry, aside, conflict=True)
                return
            # A different file is already aside under this name: name this one by content,
            # so a rerun finds it again instead of adding a third copy.
            aside = f"{aside}~{sha256_file(entry.path)[:12]}"
            claim = self._claim_at(aside)
            if claim is not None:
                self._add(DEDUP, unit, entry, aside, conflict=True)
                return
        self.claims[aside] = _Claim(entry.path, entry.st.st_size)
        kind = RENAME if self._renames(unit) else COPY
        self._add(kind, unit, entry, aside, conflict=True)

    def _claim_at(self, dst: str) -> _Claim | None:
        claim = self.claims.get(dst)
        if claim is not None:
            return claim
        target = self.plan.root / dst
        try:
            st = target.lstat()
        except OSError:
            return None
        return _Claim(target, st.st_size if stat.S_ISREG(st.st_mode) else -1)

    def _add(
        self,
        kind: str,
        unit: Unit,
        entry: _Entry,
        dst: str,
        *,
        conflict: bool = False,
        replace: bool = False,
    ) -> None:
        self.plan.actions.append(
            Action(
                kind,
                unit,
                entry.path,
                dst,
                entry.st.st_size,
                entry.st.st_mtime_ns,
                entry.st.st_ino,
                conflict=conflict,
                replace=replace,
            )
        )


def _same(claim: _Claim, entry: _Entry) -> bool:
    if claim.size != entry.st.st_size:
        return False
    try:
        return sha256_file(claim.path) == sha256_file(entry.path)
    except OSError:
        return False


def _digest(folder: Path) -> dict[str, str]:
    """Every regular file of a run folder by relative path, with its sha256."""
    found: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink() and not is_temp_name(name):
                found[path.relative_to(folder).as_posix()] = sha256_file(path)
    return found


def _device_of(root: Path) -> int:
    existing = root
    while not existing.exists():
        existing = existing.parent
    return existing.stat().st_dev


def _why(error: OSError) -> str:
    return error.strerror or str(error)
