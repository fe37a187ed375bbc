"""Reading one source folder into a tree of plain records, in one pass.

The walk is the hot loop of a migration (10k runs are 40k entries): strings and
``os.scandir`` only, one ``lstat`` per entry, no decisions. The planner decides afterwards,
top-down, which folders can move with one rename; the walk only says, bottom-up, which
folders could (:attr:`Folder.movable`), and which entries would need their mode fixed.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from ai4artsed_storage._atomic import DIR_MODE, FILE_MODE, is_temp_name
from ai4artsed_storage._journal import FolderRecord
from ai4artsed_storage._migrate import _trust

#: Relative path (under a unit's dest) that is merged, never moved or copied.
FAVORITES = "json/favorites.json"


@dataclass
class Entry:
    path: str
    rel: str  # relative to the unit's dest, POSIX
    st: os.stat_result


@dataclass
class Folder:
    """A source folder and everything below it.

    :param odd: symlinks, temp files and other non-regular entries, handled one by one.
    :param movable: nothing below needs handling one by one (no odd entry, no unreadable
        folder, no favorites to merge, no run whose id is already placed elsewhere).
    :param fixes: entries (this folder included) whose mode or owner differ from what the
        root wants, with their wanted mode.
    :param trusted: files of this folder not listed because the journal holds the folder
        as verified and unchanged (:mod:`._trust`); counted in :attr:`file_count`.
    """

    path: str
    rel: str
    st: os.stat_result
    files: list[Entry] = field(default_factory=list)
    odd: list[Entry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    run_id: str | None = None
    movable: bool = True
    file_count: int = 0
    byte_count: int = 0
    run_count: int = 0
    fixes: list[tuple[str, int]] = field(default_factory=list)
    trusted: int = 0

    def add(self, child: Folder) -> None:
        self.folders.append(child)
        self.movable = self.movable and child.movable
        self.file_count += child.file_count
        self.byte_count += child.byte_count
        self.run_count += child.run_count

    def trust(self, record: FolderRecord) -> None:
        self.trusted = record.files
        self.file_count += record.files
        self.byte_count += record.bytes
        self.movable = False  # its files were not listed: not known well enough to move

    def trusted_below(self) -> int:
        return self.trusted + sum(folder.trusted_below() for folder in self.folders)

    def all_files(self) -> list[Entry]:
        found = list(self.files)
        for folder in self.folders:
            found += folder.all_files()
        return found

    def all_fixes(self) -> list[tuple[str, int]]:
        found = list(self.fixes)
        for folder in self.folders:
            found += folder.all_fixes()
        return found


#: Subtrees read at once. On a cold cache the walk waits on the disk for every folder (one
#: random read each, 20k folders for 10k runs): outstanding reads let the device overlap
#: them (a cold ``find`` of such a tree: 2.4 s alone, 0.85 s as 16 processes). Threads
#: share one GIL, taken back after every scandir and lstat: measured cold on 10k runs,
#: 1 reader 2.7 s, 2 1.8 s, 4 1.6 s, 8 2.2 s, 16 2.8-3.6 s. Each thread takes a whole
#: subtree, so the hand-off costs nothing per folder.
READERS = 4

#: (name, path, lstat or its error) by name; the error listing the folder; the journal's
#: record when the folder was not listed but trusted (then only subfolders are given).
_Listing = tuple[
    list[tuple[str, str, os.stat_result | OSError]], OSError | None, FolderRecord | None
]
_Known = dict[str, FolderRecord]


def _list(known: _Known, path: str) -> _Listing:
    """A folder's entries by name, each with its lstat (or the error stat'ing it)."""
    record = known.get(path)
    if record is not None:
        subfolders = _trust.subfolders_if_unchanged(path, record)
        if subfolders is not None:
            return list(subfolders), None, record
    try:
        with os.scandir(path) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as error:
        return [], error, None
    listed: list[tuple[str, str, os.stat_result | OSError]] = []
    for item in entries:
        try:
            listed.append((item.name, item.path, item.stat(follow_symlinks=False)))
        except OSError as error:
            listed.append((item.name, item.path, error))
    return listed, None, None


def _subfolders(listing: _Listing) -> list[str]:
    return [
        path
        for _name, path, st in listing[0]
        if not isinstance(st, OSError) and stat.S_ISDIR(st.st_mode)
    ]


def _read_subtree(known: _Known, top: str) -> dict[str, _Listing]:
    listings: dict[str, _Listing] = {}
    pending = [top]
    while pending:
        path = pending.pop()
        listings[path] = listing = _list(known, path)
        pending += _subfolders(listing)
    return listings


def read_tree(top: str, known: _Known) -> dict[str, _Listing]:
    """Every folder below *top* (itself included) listed: the top levels one by one until
    there are enough subtrees to keep :data:`READERS` threads busy, then those in parallel.
    Folders in *known* that are unchanged are not listed (see :mod:`._trust`)."""
    listings: dict[str, _Listing] = {}
    level = [top]
    while level and len(level) < 4 * READERS:
        for path in level:
            listings[path] = _list(known, path)
        level = [sub for path in level for sub in _subfolders(listings[path])]
    if level:
        with ThreadPoolExecutor(READERS) as pool:
            for found in pool.map(partial(_read_subtree, known), level):
                listings.update(found)
    return listings


class Walker:
    """Walks the folders of one unit; *runs* maps run folder paths to run_ids. With
    *trust_root* (the root, for a copy), folders listed cleanly become :attr:`records` for
    the journal to trust once the migration verified them all."""

    def __init__(
        self,
        dest: str,
        runs: dict[str, str],
        owner: tuple[int, int] | None,
        errors: list[dict[str, str]],
        *,
        trust_root: str | None,
    ) -> None:
        self.dest = dest
        self.runs = runs
        self.owner = owner
        self.errors = errors
        self.trust_root = trust_root
        self.records: list[FolderRecord] = []
        self.listings: dict[str, _Listing] = {}

    def _wants_fix(self, st: os.stat_result, mode: int) -> bool:
        if st.st_mode & 0o7777 != mode:
            return True
        return self.owner is not None and (st.st_uid, st.st_gid) != self.owner

    def walk(self, path: str, st: os.stat_result, listings: dict[str, _Listing]) -> Folder:
        """The tree below *path*, a unit's folder (*st* taken before it was read), from its
        :func:`read_tree`."""
        self.listings = listings
        return self._folder(path, "", st)

    def _folder(self, path: str, rel: str, st: os.stat_result) -> Folder:
        folder = Folder(path, rel, st, run_id=self.runs.get(path))
        if folder.run_id is not None:
            folder.run_count = 1
        if self._wants_fix(st, DIR_MODE):
            folder.fixes.append((path, DIR_MODE))
        listed, failure, trusted = self.listings.pop(path)
        if failure is not None:
            self._error(path, failure)
            folder.movable = False
            return folder
        if trusted is not None:
            folder.trust(trusted)
        clean = trusted is None
        subdirs: list[str] = []
        files: list[tuple[str, os.stat_result]] = []
        prefix = rel + "/" if rel else ""
        for name, child_path, child_st in listed:
            if isinstance(child_st, OSError):
                self._error(child_path, child_st)
                folder.movable = clean = False
                continue
            child_rel = prefix + name
            mode = child_st.st_mode
            if stat.S_ISDIR(mode):
                subdirs.append(name)
                folder.add(self._folder(child_path, child_rel, child_st))
            # Temp names start with a dot: the cheap test first (30k calls on a rerun).
            elif stat.S_ISREG(mode) and not (name[0] == "." and is_temp_name(name)):
                files.append((name, child_st))
                folder.files.append(Entry(child_path, child_rel, child_st))
                folder.file_count += 1
                folder.byte_count += child_st.st_size
                if self._wants_fix(child_st, FILE_MODE):
                    folder.fixes.append((child_path, FILE_MODE))
                if self._dest_of(child_rel) == FAVORITES:
                    folder.movable = False
            else:
                if stat.S_ISREG(mode):  # a temp file: counted, left in place
                    folder.file_count += 1
                    folder.byte_count += child_st.st_size
                folder.odd.append(Entry(child_path, child_rel, child_st))
                folder.movable = clean = False
        if self.trust_root is not None and clean:
            dst = f"{self.trust_root}/{self._dest_of(rel)}".rstrip("/")
            record = _trust.record(path, st, subdirs, files, dst)
            if record is not None:
                self.records.append(record)
        return folder

    def _error(self, path: str, error: OSError) -> None:
        self.errors.append({"path": path, "error": error.strerror or str(error)})

    def _dest_of(self, rel: str) -> str:
        return f"{self.dest}/{rel}" if self.dest else rel
