"""Finding runs by id under one storage root, in O(1), whatever their layout.

The index answers first; its answer is checked with one ``stat``. When the index has no
entry, or the run moved (the webserver re-files non-date folders of ``json/`` at every
start), a scan of the layouts finds it and repairs the index.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from ai4artsed_storage._errors import RunNotFound
from ai4artsed_storage._ids import validate_run_id
from ai4artsed_storage._index import RunIndex
from ai4artsed_storage._kept import BoundedLRU, Identity, identity, settled
from ai4artsed_storage._root import StorageRoot
from ai4artsed_storage._runs import FINAL_FOLDER, METADATA_NAME, Run, looks_like_run, read_run
from ai4artsed_storage._settings import load_settings

_DATE_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
INDEX_NAME = "index.sqlite3"
#: Runs :meth:`RunStore.get` keeps (about 2 KB each): the gallery's and a class's working set.
KEPT_RUNS = 4096

_Validators = tuple[Identity | None, ...]


def _validators(run_dir: Path) -> _Validators:
    """What changes when a run changes: the folder and ``final/`` (a file added, removed or
    renamed into place) and metadata.json (rewritten, always by rename)."""
    return tuple(
        identity(path) for path in (run_dir, run_dir / FINAL_FOLDER, run_dir / METADATA_NAME)
    )


def _subdirs(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _date_folders(json_dir: Path) -> list[os.DirEntry[str]]:
    folders = [e for e in _subdirs(json_dir) if _DATE_FOLDER.fullmatch(e.name)]
    return sorted(folders, key=lambda e: e.name, reverse=True)


def iter_run_dirs(json_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every run folder of every layout under *json_dir* (a root's ``json/`` or an old
    exports/json tree) as (run_id, folder): dated runs newest first, then the undated ones
    of layouts A and B."""
    for date_folder in _date_folders(json_dir):
        for child in _subdirs(Path(date_folder.path)):
            child_path = Path(child.path)
            if looks_like_run(child_path):
                yield child.name, child_path
                continue
            for run in _subdirs(child_path):
                yield run.name, Path(run.path)
    for entry in _subdirs(json_dir):
        if not _DATE_FOLDER.fullmatch(entry.name):
            yield entry.name, Path(entry.path)


class RunStore:
    """Runs under ``<root>/json``, found by id through the index."""

    def __init__(self, root: StorageRoot) -> None:
        self.root = root
        self._index: RunIndex | None = None
        self._runs: BoundedLRU[str, tuple[Run, _Validators]] = BoundedLRU(KEPT_RUNS)

    @property
    def index(self) -> RunIndex:
        if self._index is None:
            self.root.open()
            self._index = RunIndex(self.root.state_dir / INDEX_NAME)
        return self._index

    def relpath(self, run_dir: Path) -> str:
        return run_dir.relative_to(self.root.json_dir).as_posix()

    def record(self, run_id: str, run_dir: Path) -> None:
        """Tell the index where *run_id* lives."""
        self.index.put(run_id, self.relpath(run_dir))

    def locate(self, run_id: str) -> Path:
        """The folder of *run_id*.

        :raises InvalidRunId: for an unsafe id (before any filesystem access).
        :raises RunNotFound: when no layout holds it.
        """
        validate_run_id(run_id)
        relpath = self.index.get(run_id)
        if relpath is not None:
            candidate = self.root.json_dir / relpath
            if candidate.name == run_id and candidate.is_dir():
                return candidate
        found = self._scan_for(run_id)
        if found is None:
            if relpath is not None:
                self.index.remove(run_id)
            raise RunNotFound(run_id)
        self.record(run_id, found)
        return found

    def get(self, run_id: str) -> Run:
        """The run *run_id* as it is on disk now.

        A run whose folder has settled is kept and answered again while its folder,
        ``final/`` and metadata.json stay as they were: the image route then costs three
        ``stat`` calls instead of an index query, a directory listing and a JSON parse.
        Kept runs are shared between callers: treat a returned run as read-only.

        :raises InvalidRunId: for an unsafe id (before any filesystem access).
        :raises RunNotFound: when no layout holds it.
        """
        validate_run_id(run_id)
        kept = self._runs.get(run_id)
        if kept is not None and kept[1] == _validators(kept[0].path):
            return kept[0]
        run_dir = self.locate(run_id)
        validators = _validators(run_dir)
        depth = len(run_dir.relative_to(self.root.json_dir).parts)
        run = read_run(run_dir, run_id, json_depth=depth)
        if validators[0] is not None and settled(validators):
            self._runs.put(run_id, (run, validators))
        return run

    def _date_folders(self) -> list[os.DirEntry[str]]:
        return _date_folders(self.root.json_dir)

    def _scan_for(self, run_id: str) -> Path | None:
        direct = self.root.json_dir / run_id
        if direct.is_dir() and not direct.is_symlink():
            return direct
        for date_folder in self._date_folders():
            dated = Path(date_folder.path) / run_id
            if dated.is_dir() and not dated.is_symlink() and looks_like_run(dated):
                return dated
            for container in _subdirs(Path(date_folder.path)):
                candidate = Path(container.path) / run_id
                if candidate.is_dir() and not candidate.is_symlink():
                    return candidate
        return None

    def iter_run_dirs(self) -> Iterator[tuple[str, Path]]:
        """Every run folder of every layout as (run_id, folder): see :func:`iter_run_dirs`."""
        return iter_run_dirs(self.root.json_dir)

    def reindex(self) -> int:
        """Rebuild the index from the tree; returns the number of runs indexed."""
        entries = [(run_id, self.relpath(path)) for run_id, path in self.iter_run_dirs()]
        self.index.replace_all(entries)
        return len(entries)

    def count(self) -> int:
        """Runs known to the index (cheap; fsck compares it with the tree)."""
        return self.index.count()

    def latest(self, limit: int) -> list[Run]:
        """Up to *limit* runs, newest date folders first (for the gallery)."""
        runs: list[Run] = []
        for run_id, path in self.iter_run_dirs():
            depth = len(path.relative_to(self.root.json_dir).parts)
            runs.append(read_run(path, run_id, json_depth=depth))
            if len(runs) >= limit:
                break
        return runs


_open_stores: dict[Path, RunStore] = {}
_open_stores_lock = threading.Lock()


def open_store(root: Path | None = None, *, source: str = "explicit argument") -> RunStore:
    """The run store of *root*, or of the configured root (env, config file, default).

    Stores are kept per root for the life of the process, so their index connections are
    reused; the settings themselves are read again on every call without *root*.

    :raises StorageConfigError: when the root is unusable, naming it and its source.
    """
    if root is None:
        resolved = load_settings()
        root, source = resolved.storage_root, resolved.root_source
    with _open_stores_lock:
        store = _open_stores.get(root)
        if store is None:
            storage_root = StorageRoot(root, source=source)
            storage_root.open()
            store = _open_stores[root] = RunStore(storage_root)
    return store
