"""The migration journal: what a migration meant to do and what it verified, in SQLite.

It lives in ``<root>/.ai4artsed/`` (the webserver moves every non-date folder of json/).
Each batch is written twice: "intent" rows (with the exact temp name) committed durably
before any file is placed, "done" rows after the filesystem was synced. So a rerun after
kill -9 or power loss knows which destinations it may have left half-written (intent, no
done: re-verify against the source, remove the temp) and skips what was verified (done and
unchanged), which keeps a rerun over 10k finished runs to a stat walk; and folders all of
whose files were verified, so that a rerun may skip listing them while they are unchanged.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS files (
        src TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, dst TEXT, temp TEXT,
        sha256 TEXT, action TEXT, state TEXT) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS runs (
        relpath TEXT PRIMARY KEY, run_id TEXT, indexed INTEGER) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS sources (
        path TEXT PRIMARY KEY, label TEXT, retired_to TEXT) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS folders (
        path TEXT PRIMARY KEY, sig TEXT, files INTEGER, bytes INTEGER, subdirs TEXT,
        watch TEXT, dst TEXT, dst_sig TEXT) WITHOUT ROWID""",
)

INTENT = "intent"
DONE = "done"


@dataclass(frozen=True)
class FileRecord:
    """One source file: where it went (root-relative), as what, and how it looked."""

    src: str
    size: int
    mtime_ns: int
    dst: str
    temp: str | None
    sha256: str | None
    action: str
    state: str


@dataclass(frozen=True)
class FolderRecord:
    """A source folder whose every file a clean migration verified (see ``_migrate._trust``).

    :param sig: the folder's ``ino:ctime_ns:mtime_ns`` when it was listed.
    :param subdirs: its subfolder names, ``/``-separated.
    :param watch: JSON ``[[name, size, mtime_ns], ...]`` of its files that the webserver
        rewrites in place.
    :param dst: the folder of the root its files went to; *dst_sig* its signature once
        they were all there (a file deleted from the root changes it).
    """

    path: str
    sig: str
    files: int
    bytes: int
    subdirs: str
    watch: str
    dst: str
    dst_sig: str


class Journal:
    """The journal of one storage root; *readonly* (dry runs) never creates or writes it."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if readonly:
            self._db = self._private_copy()
            self._create()
            return
        if not path.exists():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o640))
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Unlike the index, the journal is the proof of what was verified: every commit
        # reaches the disk before the step it guards.
        self._db.execute("PRAGMA synchronous=FULL")
        self._create()

    def _private_copy(self) -> sqlite3.Connection:
        """A connection to a copy of the journal (database and write-ahead log) in a
        scratch folder, or to an empty database when there is none.

        Read-only use must still read a copy: the file may lack tables (a kill -9 right
        after it was created, or a journal of an older version), and after a writer was
        killed its log needs a recovery that a read-only connection may not run.
        """
        if not self.path.exists():
            return sqlite3.connect(":memory:", isolation_level=None)
        self._scratch = tempfile.TemporaryDirectory(prefix="ai4artsed-journal-")
        copy = Path(self._scratch.name) / self.path.name
        for suffix in ("", "-wal"):
            try:
                shutil.copyfile(f"{self.path}{suffix}", f"{copy}{suffix}")
            except FileNotFoundError:
                if not suffix:
                    raise
        return sqlite3.connect(copy, isolation_level=None)

    def _create(self) -> None:
        for statement in _SCHEMA:
            self._db.execute(statement)

    def close(self) -> None:
        self._db.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def files(self) -> dict[str, FileRecord]:
        rows = self._db.execute(
            "SELECT src, size, mtime_ns, dst, temp, sha256, action, state FROM files"
        )
        return {row[0]: FileRecord(*row) for row in rows}

    def _write(self, statement: str, rows: Iterable[tuple[object, ...]]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(statement, rows)

    def intend(self, records: Iterable[FileRecord]) -> None:
        """Durably note files about to be placed (before any of them is)."""
        self._write(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (r.src, r.size, r.mtime_ns, r.dst, r.temp, r.sha256, r.action, INTENT)
                for r in records
            ),
        )

    def done(self, records: Iterable[FileRecord]) -> None:
        """Durably note files verified in place (after the filesystem was synced)."""
        self._write(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
            ((r.src, r.size, r.mtime_ns, r.dst, r.sha256, r.action, DONE) for r in records),
        )

    def folders(self) -> dict[str, FolderRecord]:
        rows = self._db.execute(
            "SELECT path, sig, files, bytes, subdirs, watch, dst, dst_sig FROM folders"
        )
        return {row[0]: FolderRecord(*row) for row in rows}

    def trust_folders(self, records: Iterable[FolderRecord]) -> None:
        """Note folders a rerun may take as verified while their signature holds."""
        self._write(
            "INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (r.path, r.sig, r.files, r.bytes, r.subdirs, r.watch, r.dst, r.dst_sig)
                for r in records
            ),
        )

    def add_runs(self, entries: Iterable[tuple[str, str]]) -> None:
        """Runs (run_id, relpath under json/) that will need an index entry."""
        self._write(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, 0)",
            ((relpath, run_id) for run_id, relpath in entries),
        )

    def unindexed_runs(self) -> list[tuple[str, str]]:
        rows = self._db.execute("SELECT run_id, relpath FROM runs WHERE indexed = 0")
        return [(str(run_id), str(relpath)) for run_id, relpath in rows]

    def mark_indexed(self, entries: Iterable[tuple[str, str]]) -> None:
        self._write(
            "UPDATE runs SET indexed = 1 WHERE relpath = ?",
            ((relpath,) for _run_id, relpath in entries),
        )

    def retired_to(self, path: Path) -> str | None:
        row = self._db.execute(
            "SELECT retired_to FROM sources WHERE path = ?", (str(path),)
        ).fetchone()
        return None if row is None else row[0]

    def record_retired(self, path: Path, label: str, renamed_to: Path) -> None:
        self._write(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)",
            [(str(path), label, str(renamed_to))],
        )
