"""Durable, all-or-nothing file writes: temp file in the target folder, fsync, rename, fsync dir.

A reader sees the old file or the new one, never a part; after a crash the file is either
complete or absent. Temp names start with a dot and end in ``.tmp`` so no reader mistakes
them for data (:func:`is_temp_name`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o640
DIR_MODE = 0o750
_TEMP_SUFFIX = ".tmp"


def is_temp_name(name: str) -> bool:
    """True for names this module uses for files still being written."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside *path* durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = DIR_MODE, *, durable: bool = True) -> None:
    """Create *path* and missing parents with *mode* (umask notwithstanding) and sync them.

    :param durable: false skips the per-folder fsync for callers that sync the whole
        filesystem once afterwards (a migration creating thousands of folders).
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue
        os.chmod(folder, mode)
        if durable:
            fsync_dir(folder.parent)


@contextlib.contextmanager
def temp_file_in(folder: Path, final_name: str) -> Iterator[tuple[IO[bytes], Path]]:
    """Open a fresh temp file beside *final_name*; on an exception it is removed.

    On success the caller owns the temp file: it renames it into place (:func:`commit_temp`)
    or hands it on.
    """
    temp = folder / f".{final_name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, temp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def commit_temp(temp: Path, target: Path) -> None:
    """Rename a finished (fsynced) temp file over *target* and make the rename durable."""
    os.replace(temp, target)
    fsync_dir(target.parent)


def atomic_write_bytes(target: Path, chunks: bytes | Iterable[bytes]) -> int:
    """Write *chunks* to *target* atomically and durably; returns the byte count."""
    pieces: Iterable[bytes] = (chunks,) if isinstance(chunks, bytes) else chunks
    size = 0
    with temp_file_in(target.parent, target.name) as (handle, temp):
        for piece in pieces:
            handle.write(piece)
            size += len(piece)
        handle.flush()
        os.fsync(handle.fileno())
        commit_temp(temp, target)
    return size


def dump_json(value: Any) -> bytes:
    """JSON as the webserver writes it (indented, UTF-8 kept), so diffs stay readable."""
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")


def atomic_write_json(target: Path, value: Any) -> None:
    """Write *value* as JSON to *target* atomically and durably."""
    atomic_write_bytes(target, dump_json(value))


def atomic_write_text(target: Path, text: str) -> None:
    """Write *text* as UTF-8 to *target* atomically and durably."""
    atomic_write_bytes(target, text.encode("utf-8"))
