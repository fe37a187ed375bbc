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

from ai4artsed_storage._atomic import DIR_MODE, FILE_MODE, is_temp_name

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
#: random read each, 20k folders for 10k runs): many outstanding reads let the device
#: overlap them (a cold ``find`` of such a tree: 2.8 s alone, 1.0 s as 16 in parallel).
#: scandir and stat release the GIL while they wait; each thread takes a whole subtree, so
#: the hand-off costs nothing per folder.
READERS = 16

_Listing = tuple[list[tuple[os.DirEntry[str], os.stat_result | OSError]], OSError | None]


def _list(path: str) -> _Listing:
    """A folder's entries by name, each with its lstat (or the error stat'ing it)."""
    try:
        with os.scandir(path) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as error:
        return [], error
    listed: list[tuple[os.DirEntry[str], os.stat_result | OSError]] = []
    for item in entries:
        try:
            listed.append((item, item.stat(follow_symlinks=False)))
        except OSError as error:
            listed.append((item, error))
    return listed, None


def _subfolders(listing: _Listing) -> list[str]:
    return [
        item.path
        for item, st in listing[0]
        if not isinstance(st, OSError) and stat.S_ISDIR(st.st_mode)
    ]


def _read_subtree(top: str) -> dict[str, _Listing]:
    listings: dict[str, _Listing] = {}
    pending = [top]
    while pending:
        path = pending.pop()
        listings[path] = listing = _list(path)
        pending += _subfolders(listing)
    return listings


def read_tree(top: str) -> dict[str, _Listing]:
    """Every folder below *top* (itself included) listed: the top levels one by one until
    there are enough subtrees to keep :data:`READERS` threads busy, then those in parallel."""
    listings: dict[str, _Listing] = {}
    level = [top]
    while level and len(level) < 4 * READERS:
        for path in level:
            listings[path] = _list(path)
        level = [sub for path in level for sub in _subfolders(listings[path])]
    if level:
        with ThreadPoolExecutor(READERS) as pool:
            for found in pool.map(_read_subtree, level):
                listings.update(found)
    return listings


class Walker:
    """Walks the folders of one unit; *runs* maps run folder paths to run_ids."""

    def __init__(
        self,
        dest: str,
        runs: dict[str, str],
        owner: tuple[int, int] | None,
        errors: list[dict[str, str]],
    ) -> None:
        self.dest = dest
        self.runs = runs
        self.owner = owner
        self.errors = errors
        self.listings: dict[str, _Listing] = {}

    def _wants_fix(self, st: os.stat_result, mode: int) -> bool:
        if st.st_mode & 0o7777 != mode:
            return True
        return self.owner is not None and (st.st_uid, st.st_gid) != self.owner

    def walk(self, path: str, listings: dict[str, _Listing]) -> Folder:
        """The tree below *path*, a unit's folder, from its :func:`read_tree`."""
        self.listings = listings
        return self._folder(path, "", os.lstat(path))

    def _folder(self, path: str, rel: str, st: os.stat_result) -> Folder:
        folder = Folder(path, rel, st, run_id=self.runs.get(path))
        if folder.run_id is not None:
            folder.run_count = 1
        if self._wants_fix(st, DIR_MODE):
            folder.fixes.append((path, DIR_MODE))
        listed, failure = self.listings.pop(path)
        if failure is not None:
            self.errors.append({"path": path, "error": failure.strerror or str(failure)})
            folder.movable = False
            return folder
        prefix = rel + "/" if rel else ""
        for item, child_st in listed:
            if isinstance(child_st, OSError):
                self.errors.append({"path": item.path, "error": child_st.strerror or str(child_st)})
                folder.movable = False
                continue
            child_rel = prefix + item.name
            mode = child_st.st_mode
            if stat.S_ISDIR(mode):
                child = self._folder(item.path, child_rel, child_st)
                folder.folders.append(child)
                folder.movable = folder.movable and child.movable
                folder.file_count += child.file_count
                folder.byte_count += child.byte_count
                folder.run_count += child.run_count
            elif stat.S_ISREG(mode) and not is_temp_name(item.name):
                entry = Entry(item.path, child_rel, child_st)
                folder.files.append(entry)
                folder.file_count += 1
                folder.byte_count += child_st.st_size
                if self._wants_fix(child_st, FILE_MODE):
                    folder.fixes.append((item.path, FILE_MODE))
                if self._dest_of(child_rel) == FAVORITES:
                    folder.movable = False
            else:
                if stat.S_ISREG(mode):  # a temp file: counted, left in place
                    folder.file_count += 1
                    folder.byte_count += child_st.st_size
                folder.odd.append(Entry(item.path, child_rel, child_st))
                folder.movable = False
        return folder

    def _dest_of(self, rel: str) -> str:
        return f"{self.dest}/{rel}" if self.dest else rel
