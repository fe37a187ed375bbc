"""Carrying out a plan in batches: intent, place (threads copy and hash), syncfs, done.

A source file is never removed: copies leave it alone, renames move the very inode (the
kernel refuses to replace an existing destination). A folder that moves whole gets its
modes (and owner) fixed first, where it is, from the planning walk's stats: no second walk,
and a kill -9 in between leaves nothing in the root with the wrong mode. One unreadable
file is reported and left in place while the rest goes on; a full disk stops the run
cleanly after recording what was verified, and the same command finishes once space is
freed.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ai4artsed_storage._atomic import FILE_MODE, make_dirs
from ai4artsed_storage._journal import DONE, FileRecord, Journal
from ai4artsed_storage._migrate._fs import Ownership, copy_verified, rename_noreplace, syncfs
from ai4artsed_storage._migrate._plan import (
    ADOPT,
    COPY,
    DEDUP,
    LINK,
    RENAME,
    Action,
    Plan,
)

#: Files or bytes per durability batch: large enough that one syncfs is amortized, small
#: enough that a crash repeats little work.
BATCH_FILES = 2000
BATCH_BYTES = 512 << 20
WORKERS = 4

Progress = Callable[[int, int], None]


@dataclass
class Outcome:
    copied: int = 0
    renamed: int = 0
    linked: int = 0
    recorded: int = 0
    done_files: int = 0
    dirs_created: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    stopped: bool = False
    favorites_written: bool = False
    conflicts_aside: list[tuple[str, str, str]] = field(default_factory=list)
    failed_units: set[str] = field(default_factory=set)


class Applier:
    def __init__(
        self, plan: Plan, journal: Journal, owner: Ownership | None, progress: Progress | None
    ) -> None:
        self.plan = plan
        self.root = plan.root
        self.journal = journal
        self.owner = owner
        self.progress = progress
        self.outcome = Outcome()
        self._made: set[str] = set()
        self._root = str(plan.root)

    def run(self) -> Outcome:
        for temp in self.plan.stale_temps:
            temp.unlink(missing_ok=True)
        total = sum(a.files for a in self.plan.actions)
        with ThreadPoolExecutor(WORKERS) as pool:
            for batch in _batches(self.plan.actions):
                try:
                    self._batch(batch, pool)
                except (OSError, sqlite3.OperationalError) as error:
                    # Out of space for a folder or the journal itself: stop cleanly; what
                    # the journal did not record as done is re-checked by the rerun.
                    self.outcome.stopped = True
                    self.outcome.errors.append({"path": str(self.root), "error": str(error)})
                    break
                if self.progress is not None:
                    self.progress(self.outcome.done_files, total)
                if self.outcome.stopped:
                    break
        if not self.outcome.stopped:
            # Last, so no folder exists before a run folder planned to arrive by rename.
            for folder in sorted(self.plan.dirs, key=lambda d: d.count("/")):
                self._dir(folder)
        return self.outcome

    def _dir(self, folder: str) -> None:
        if folder in self._made or not folder:
            return
        path = self.root / folder
        if not path.is_dir():
            self._dir(folder.rpartition("/")[0])
            make_dirs(path, durable=False)
            self.outcome.dirs_created += 1
            if self.owner is not None:
                self.owner.apply(path)
        self._made.add(folder)

    def _batch(self, batch: list[Action], pool: ThreadPoolExecutor) -> None:
        temps: dict[int, str] = {}
        intents: list[FileRecord] = []
        for action in batch:
            if action.kind in (DEDUP, ADOPT):
                continue
            temp = None
            if action.kind == COPY:
                parent, _, name = action.dst.rpartition("/")
                temp = f"{parent}/.{name}.{secrets.token_hex(6)}.tmp".lstrip("/")
                temps[id(action)] = temp
            intents.append(action.record("intent", temp))
        self.journal.intend(intents)
        futures: list[tuple[Action, Future[tuple[str, int]]]] = []
        verified: list[FileRecord] = []
        for action in batch:
            if action.kind in (DEDUP, ADOPT):
                self.outcome.recorded += action.files
                verified.append(action.record(DONE))
                continue
            # Folders are made in plan order, just before their first file: made earlier, a
            # run folder planned to arrive by one rename would already exist.
            try:
                self._dir(action.dst.rpartition("/")[0])
            except OSError as error:
                self._failed(action, error)
                continue
            if action.kind == COPY:
                future = pool.submit(
                    copy_verified,
                    action.src,
                    f"{self._root}/{temps[id(action)]}",
                    f"{self._root}/{action.dst}",
                    mtime_ns=action.mtime_ns,
                    owner=self.owner,
                    replace=action.replace,
                )
                futures.append((action, future))
            elif self._move(action):
                verified.append(action.record(DONE))
        for action, future in futures:
            try:
                action.sha256, _size = future.result()
            except OSError as error:
                self._failed(action, error)
                continue
            self.outcome.copied += 1
            verified.append(action.record(DONE))
        # One flush for the whole batch, then the journal may call it done.
        syncfs(self.root)
        self.journal.done(verified)
        self.outcome.done_files += sum(a.files for a in batch)

    def _move(self, action: Action) -> bool:
        """Rename a file or run folder (same filesystem) or recreate an inner symlink."""
        target = self.root / action.dst
        try:
            if action.kind == LINK:
                assert action.link_target is not None
                temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
                os.symlink(action.link_target, temp)
                try:
                    rename_noreplace(temp, target)
                except OSError:
                    temp.unlink()
                    raise
                self.outcome.linked += 1
                return True
            for path, mode in action.fixes:
                # The walk saw a wrong mode or owner here: no second lstat to ask again.
                os.chmod(path, mode)
                if self.owner is not None:
                    self.owner.apply(path)
            rename_noreplace(action.src, target)
            if target.lstat().st_ino != action.ino:
                raise OSError(errno.EIO, "renamed entry is not the planned one", str(target))
            if action.kind == RENAME:
                self._settle(target, FILE_MODE)
        except OSError as error:
            self._failed(action, error)
            return False
        self.outcome.renamed += action.files
        return True

    def _settle(self, path: str | Path, mode: int) -> None:
        if os.lstat(path).st_mode & 0o7777 != mode:
            os.chmod(path, mode)
        if self.owner is not None:
            self.owner.apply(path)

    def _failed(self, action: Action, error: OSError) -> None:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            self.outcome.stopped = True
        self.outcome.failed_units.add(action.unit.label + str(action.unit.dest))
        self.outcome.errors.append({"path": action.src, "error": error.strerror or str(error)})


def _batches(actions: list[Action]) -> Iterator[list[Action]]:
    batch: list[Action] = []
    files = size = 0
    for action in actions:
        batch.append(action)
        files += action.files
        size += action.size if action.kind in (COPY, RENAME) else 0
        if files >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, files, size = [], 0, 0
    if batch:
        yield batch
