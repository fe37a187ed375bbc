"""run_id -> run folder, in SQLite under the root's state folder.

SQLite opens in well under a millisecond at any size and answers a point query in
microseconds, so neither process start nor a lookup grows with the number of runs (a
JSON index loaded whole costs about a second per million runs). The index is a cache of
the tree: every entry is checked against the disk on use and the tree can rebuild it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id  TEXT PRIMARY KEY,
    relpath TEXT NOT NULL
) WITHOUT ROWID
"""


class RunIndex:
    """Where each run lives, as a path relative to ``<root>/json``.

    Safe for threads (a connection per thread) and for processes (SQLite WAL locking).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._local = threading.local()
        self._created = False

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            if not self._created and not self.db_path.exists():
                # SQLite would create the file with the umask's mode; the root is 0640/0750.
                os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT, 0o640))
            self._created = True
            connection = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # The index is rebuildable from the tree, so a lost last commit on power loss is
            # acceptable; NORMAL skips an fsync per commit.
            connection.execute("PRAGMA synchronous=NORMAL")
            # Lookups read the B-tree through mmap instead of a read() per page, so a
            # million-run index answers nearly as fast as a thousand-run one.
            connection.execute("PRAGMA mmap_size=268435456")
            connection.execute(_SCHEMA)
            self._local.connection = connection
        return connection

    def get(self, run_id: str) -> str | None:
        row = (
            self._connection()
            .execute("SELECT relpath FROM runs WHERE run_id = ?", (run_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def put(self, run_id: str, relpath: str) -> None:
        self._connection().execute(
            "INSERT INTO runs(run_id, relpath) VALUES (?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET relpath = excluded.relpath",
            (run_id, relpath),
        )

    def put_many(self, entries: Iterable[tuple[str, str]]) -> None:
        connection = self._connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO runs(run_id, relpath) VALUES (?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET relpath = excluded.relpath",
                entries,
            )

    def remove(self, run_id: str) -> None:
        self._connection().execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def replace_all(self, entries: Iterable[tuple[str, str]]) -> None:
        """Make the index exactly *entries*, in one transaction."""
        connection = self._connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM runs")
            connection.executemany(
                "INSERT OR REPLACE INTO runs(run_id, relpath) VALUES (?, ?)", entries
            )

    def count(self) -> int:
        row = self._connection().execute("SELECT count(*) FROM runs").fetchone()
        return int(row[0])

    def items(self) -> Iterator[tuple[str, str]]:
        yield from self._connection().execute("SELECT run_id, relpath FROM runs ORDER BY run_id")

    def close(self) -> None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
