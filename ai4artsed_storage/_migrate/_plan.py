"""Deciding, before anything is touched, what happens to every file of every source.

The plan is pure reading (sources, the root, the journal): ``--dry-run`` prints it and the
free-space check sums it. Decisions, in source order, the first claimant of a place wins:
- a file the journal verified earlier and that is unchanged is skipped without hashing;
- a place already taken (in the root or by an earlier source) with the same bytes is a
  dedup; with other bytes a conflict, kept aside under ``.conflicts/<label>/<relpath>``;
- a run_id already placed elsewhere is compared as a whole: same files, dedup; else the
  whole run is kept aside;
- on the same filesystem the highest folder whose place in the root is free, and that holds
  nothing to handle one by one, moves with one rename (a fresh root: a handful of renames);
  its entries' modes are fixed beforehand from the walk's own stats.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ai4artsed_storage._atomic import is_temp_name
from ai4artsed_storage._ids import is_safe_id
from ai4artsed_storage._journal import DONE, INTENT, FileRecord, FolderRecord
from ai4artsed_storage._migrate._fs import sha256_file
from ai4artsed_storage._migrate._sources import Unit
from ai4artsed_storage._migrate._walk import FAVORITES, Entry, Folder, Walker, read_tree
from ai4artsed_storage._root import CONFLICTS_FOLDER
from ai4artsed_storage._store import iter_run_dirs

#: Action kinds. "copy"/"rename" place a file, "rename_dir" a whole folder, "link"
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
    src: str
    dst: str  # relative to the root, POSIX
    size: int
    mtime_ns: int
    ino: int
    files: int = 1
    conflict: bool = False
    replace: bool = False
    sha256: str | None = None
    link_target: str | None = None
    runs: int = 0  # run folders a "rename_dir" carries
    fixes: list[tuple[str, int]] = field(default_factory=list)  # (path, mode) before it

    def record(self, state: str, temp: str | None = None) -> FileRecord:
        return FileRecord(
            self.src,
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
    path: str  # where the bytes can be read now (root file or earlier source file)
    size: int


@dataclass
class Plan:
    root: Path
    units: list[Unit]
    rename_units: set[str]
    actions: list[Action] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)
    runs: list[tuple[str, str]] = field(default_factory=list)
    favorites: list[tuple[str, os.stat_result, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    stale_temps: list[Path] = field(default_factory=list)
    #: Source folders to note as verified in the journal if the migration ends clean.
    trusted: list[FolderRecord] = field(default_factory=list)
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
            "folder_renames": sum(1 for a in self.actions if a.kind == RENAME_DIR),
            "run_folder_renames": sum(a.runs for a in self.actions if a.kind == RENAME_DIR),
            "links": self.count(LINK),
            "deduplicated": self.count(DEDUP, ADOPT),
            "conflicts": len(self.conflicts),
            "already_migrated": self.already,
            "favorites_merged": len(self.favorites),
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }


def _favorites_of(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("favorites"), list):
        return data
    return None


class Planner:
    """Builds a :class:`Plan`; one instance per migration."""

    def __init__(
        self,
        root: Path,
        units: list[Unit],
        journal: dict[str, FileRecord],
        *,
        copy: bool,
        owner: tuple[int, int] | None = None,
        known: dict[str, FolderRecord] | None = None,
    ) -> None:
        device = _device_of(root)
        rename_units = set()
        if not copy:
            rename_units = {u.label + str(u.dest) for u in units if u.path.stat().st_dev == device}
        self.plan = Plan(root, units, rename_units)
        self.root = str(root)
        self.journal = journal
        self.owner = owner
        self.known = known or {}
        self.claims: dict[str, _Claim] = {}
        #: Root-relative folders planned to arrive by one rename -> where they are now.
        self.moved: dict[str, str] = {}
        #: Root-relative folders the plan puts something in (so no folder may move there).
        self.taken: set[str] = set()
        self.run_owner: dict[str, tuple[str, str]] = {}
        self.dest = ""
        self.renaming = False
        root_json = root / "json"
        if root_json.is_dir():
            skip = len(str(root_json)) + 1
            for run_id, path in iter_run_dirs(root_json):
                found = str(path)
                self.run_owner.setdefault(run_id, (found[skip:], found))

    def build(self) -> Plan:
        for unit in self.plan.units:
            self._unit(unit)
        return self.plan

    # -- walking ---------------------------------------------------------------------

    def _unit(self, unit: Unit) -> None:
        top = str(unit.path)
        top_st = os.lstat(top)
        # The disk reads first, in parallel; the run scan below then reads from the cache.
        listings = read_tree(top, self.known)
        runs: dict[str, str] = {}
        if unit.json_dir is not None and unit.json_dir.is_dir():
            for run_id, path in iter_run_dirs(unit.json_dir):
                if is_safe_id(run_id):
                    runs[str(path)] = run_id
        self.dest = str(unit.dest) if unit.dest.parts else ""
        self.renaming = unit.label + str(unit.dest) in self.plan.rename_units
        if self.dest:
            self.plan.dirs.add(self.dest)
        walker = Walker(
            self.dest,
            runs,
            self.owner,
            self.plan.errors,
            trust_root=None if self.renaming else self.root,
        )
        folder = walker.walk(top, top_st, listings)
        self.plan.trusted += walker.records
        self.plan.file_count += folder.file_count
        self.plan.byte_count += folder.byte_count
        self.plan.run_count += folder.run_count
        self._content(unit, folder)

    def _dst(self, rel: str) -> str:
        if not rel:
            return self.dest
        return f"{self.dest}/{rel}" if self.dest else rel

    def _content(self, unit: Unit, folder: Folder) -> None:
        """Plan what is inside *folder* entry by entry (the folder itself does not move)."""
        self.plan.already += folder.trusted
        for entry in folder.files:
            self._place(unit, entry)
        for entry in folder.odd:
            self._odd(unit, entry)
        for child in folder.folders:
            if child.run_id is not None:
                self._run(unit, child)
            elif not self._move(unit, child):
                if not self.renaming:
                    # Empty folders are recreated by copies only: renames leave emptied
                    # folders behind, which must not turn into phantom runs in the root.
                    self.plan.dirs.add(self._dst(child.rel))
                self._content(unit, child)

    def _odd(self, unit: Unit, entry: Entry) -> None:
        mode = entry.st.st_mode
        if stat.S_ISLNK(mode):
            self._symlink(unit, entry)
        elif stat.S_ISREG(mode):
            self._skip(entry.path, "temp file of an unfinished write; left in place")
        else:
            self._skip(entry.path, "not a regular file, directory or symlink; left in place")

    def _odd_below(self, unit: Unit, folder: Folder) -> None:
        for entry in folder.odd:
            self._odd(unit, entry)
        for child in folder.folders:
            self._odd_below(unit, child)

    def _skip(self, path: str, reason: str) -> None:
        self.plan.skipped.append({"path": path, "reason": reason})

    def _symlink(self, unit: Unit, entry: Entry) -> None:
        path = entry.path
        target = os.readlink(path)
        record = self.journal.get(path)
        if (
            record is not None
            and record.state == DONE
            and os.path.lexists(f"{self.root}/{record.dst}")
        ):
            self.plan.already += 1
            return
        real = Path(path).resolve()
        if os.path.isabs(target) or (real != unit.path and unit.path not in real.parents):
            self._skip(path, f"symlink to {target} leaves the source; recorded, not followed")
            return
        dst = self._dst(entry.rel)
        if self._claim_at(dst) is not None:
            self._skip(path, f"symlink to {target}: its place in the root is taken")
            return
        self._claim(dst, _Claim(path, 0))
        st = entry.st
        self.plan.actions.append(
            Action(LINK, unit, path, dst, 0, st.st_mtime_ns, st.st_ino, link_target=target)
        )

    # -- whole folders ---------------------------------------------------------------

    def _move(self, unit: Unit, folder: Folder) -> bool:
        """Plan *folder* to move with one rename, if it can: same filesystem, its place in
        the root free, nothing inside to handle one by one."""
        if not self.renaming or not folder.movable:
            return False
        if folder.file_count == 0 and folder.run_count == 0:
            return False  # nothing to migrate; an emptied husk stays where it is
        dst = self._dst(folder.rel)
        if not self._free(dst):
            return False
        runs = self._runs_in(folder)
        if runs is None:
            return False
        for run_id, json_rel, path in runs:
            self.run_owner[run_id] = (json_rel, path)
            self.plan.runs.append((run_id, json_rel))
        self.moved[dst] = folder.path
        self._take(dst)
        st = folder.st
        self.plan.actions.append(
            Action(
                RENAME_DIR,
                unit,
                folder.path,
                dst,
                folder.byte_count,
                st.st_mtime_ns,
                st.st_ino,
                files=folder.file_count,
                runs=len(runs),
                fixes=folder.all_fixes(),
            )
        )
        return True

    def _runs_in(self, folder: Folder) -> list[tuple[str, str, str]] | None:
        """The runs below *folder*, or None if one of their ids is placed already (then
        each such run is compared as a whole, see :meth:`_run`)."""
        found: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        stack = [folder]
        while stack:
            current = stack.pop()
            run_id = current.run_id
            if run_id is not None:
                if run_id in self.run_owner or run_id in seen:
                    return None
                seen.add(run_id)
                found.append((run_id, self._dst(current.rel).removeprefix("json/"), current.path))
            stack.extend(current.folders)
        return found

    def _free(self, dst: str) -> bool:
        if dst in self.taken or dst in self.claims or self._now_at(dst) is not None:
            return False
        return not os.path.lexists(f"{self.root}/{dst}")

    def _now_at(self, dst: str) -> str | None:
        """Where *dst* is before the plan runs, if it is inside a folder planned to move."""
        if not self.moved:
            return None
        probe = dst
        while probe:
            source = self.moved.get(probe)
            if source is not None:
                return source + dst[len(probe) :]
            probe = probe.rpartition("/")[0]
        return None

    def _take(self, dst: str) -> None:
        while dst and dst not in self.taken:
            self.taken.add(dst)
            dst = dst.rpartition("/")[0]

    def _claim(self, dst: str, claim: _Claim) -> None:
        self.claims[dst] = claim
        self._take(dst.rpartition("/")[0])

    # -- runs ------------------------------------------------------------------------

    def _run(self, unit: Unit, folder: Folder) -> None:
        assert folder.run_id is not None
        run_id = folder.run_id
        json_rel = self._dst(folder.rel).removeprefix("json/")
        entries = folder.all_files()
        trusted = folder.trusted_below()
        if (entries or trusted) and all(self._verified_before(e) for e in entries):
            self.plan.already += len(entries) + trusted
            for entry in entries:
                self._claim(self.journal[entry.path].dst, _Claim(entry.path, entry.st.st_size))
            self._odd_below(unit, folder)
            return
        owner = self.run_owner.get(run_id)
        if owner is not None and owner[0] != json_rel:
            # The same run_id at another place: one run, or two that must not be mixed.
            same = _digest(owner[1]) == _digest(folder.path)
            skip = len(folder.rel) + 1
            self.plan.already += trusted
            for entry in entries:
                if self._verified_before(entry):
                    self.plan.already += 1
                elif same:
                    inner = entry.rel[skip:]
                    self._add(DEDUP, unit, entry, f"json/{owner[0]}/{inner}")
                else:
                    self._conflict(unit, entry, self._dst(entry.rel))
            self._odd_below(unit, folder)
            return
        if owner is None and self._move(unit, folder):
            return
        self.run_owner[run_id] = (json_rel, folder.path)
        self.plan.runs.append((run_id, json_rel))
        self.plan.dirs.add(self._dst(folder.rel))
        self._content(unit, folder)

    # -- files -----------------------------------------------------------------------

    def _verified_before(self, entry: Entry) -> bool:
        record = self.journal.get(entry.path)
        if record is None or record.state != DONE:
            return False
        if (record.size, record.mtime_ns) != (entry.st.st_size, entry.st.st_mtime_ns):
            return False
        if record.action == "merge":
            return True
        try:
            return os.lstat(f"{self.root}/{record.dst}").st_size == record.size
        except OSError:
            return False

    def _place(self, unit: Unit, entry: Entry) -> None:
        """Decide one file: skip, merge, resume, place, dedup or keep aside."""
        if self._verified_before(entry):
            self.plan.already += 1
            self._claim(self.journal[entry.path].dst, _Claim(entry.path, entry.st.st_size))
            return
        dst = self._dst(entry.rel)
        if dst == FAVORITES:
            favorites = _favorites_of(entry.path)
            if favorites is not None:
                self.plan.favorites.append((entry.path, entry.st, favorites))
                return
        record = self.journal.get(entry.path)
        if record is not None and record.state == INTENT:
            if record.temp:
                self.plan.stale_temps.append(self.plan.root / record.temp)
            if record.action == COPY and self._resume(unit, entry, record):
                return
        claim = self._claim_at(dst)
        if claim is None:
            self._claim(dst, _Claim(entry.path, entry.st.st_size))
            self._add(RENAME if self.renaming else COPY, unit, entry, dst)
        elif _same(claim, entry):
            self._add(DEDUP, unit, entry, dst)
        else:
            self._conflict(unit, entry, dst)

    def _resume(self, unit: Unit, entry: Entry, record: FileRecord) -> bool:
        """A copy this migration began earlier: adopt it if complete, else redo it."""
        target = f"{self.root}/{record.dst}"
        if not os.path.lexists(target) or record.dst in self.claims:
            return False
        self._claim(record.dst, _Claim(entry.path, entry.st.st_size))
        conflict = record.dst.startswith(CONFLICTS_FOLDER + "/")
        if sha256_file(target) == sha256_file(entry.path):
            self._add(ADOPT, unit, entry, record.dst, conflict=conflict)
        else:
            self._add(COPY, unit, entry, record.dst, conflict=conflict, replace=True)
        return True

    def _conflict(self, unit: Unit, entry: Entry, dst: str) -> None:
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
        self._claim(aside, _Claim(entry.path, entry.st.st_size))
        self._add(RENAME if self.renaming else COPY, unit, entry, aside, conflict=True)

    def _claim_at(self, dst: str) -> _Claim | None:
        claim = self.claims.get(dst)
        if claim is not None:
            return claim
        target = self._now_at(dst) or f"{self.root}/{dst}"
        try:
            st = os.lstat(target)
        except OSError:
            return None
        return _Claim(target, st.st_size if stat.S_ISREG(st.st_mode) else -1)

    def _add(
        self,
        kind: str,
        unit: Unit,
        entry: Entry,
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


def _same(claim: _Claim, entry: Entry) -> bool:
    if claim.size != entry.st.st_size:
        return False
    try:
        return sha256_file(claim.path) == sha256_file(entry.path)
    except OSError:
        return False


def _digest(folder: str) -> dict[str, str]:
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
