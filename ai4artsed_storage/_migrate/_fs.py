"""Filesystem steps of a migration: hashing, verified copy, no-overwrite rename, syncfs.

Durability is batched (PERF-NOTES: an fsync per file is the cost to beat): copies are
renamed into place unsynced, and one ``syncfs`` per batch precedes the journal entry that
calls them done. The journal's intent entries make that safe: after a crash, a destination
with an intent but no "done" is re-verified against its source (which is never removed).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ai4artsed_storage._atomic import FILE_MODE

_CHUNK = 1 << 20
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a regular file, read without following a final symlink."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename *src* to *dst*, failing with FileExistsError if *dst* exists (kernel-checked).

    ``os.rename`` would silently replace a file that appeared since we looked: never an
    overwrite, so renameat2(RENAME_NOREPLACE).
    """
    result = _libc.renameat2(
        _AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(src), None, str(dst))


def syncfs(path: Path) -> None:
    """Flush every dirty page and inode of the filesystem holding *path*."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Ownership:
    """Owner and group for everything the migration places in the root (``--owner``)."""

    uid: int
    gid: int

    def apply(self, path: Path) -> None:
        os.lchown(path, self.uid, self.gid)


class VerifyError(OSError):
    """What was written differs from what was read: the copy is discarded."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.EIO, "checksum of the copy differs from the source", str(path))


def copy_verified(
    src: Path,
    temp: Path,
    dst: Path,
    *,
    mtime_ns: int,
    owner: Ownership | None,
    replace: bool,
) -> tuple[str, int]:
    """Copy *src* via *temp* (beside *dst*) and rename it into place once verified.

    The source is hashed while read; the temp file is read back and hashed again; only
    equal digests reach *dst*. No fsync here: the caller syncs the filesystem per batch.
    *replace* is only for a destination this migration itself left half-done.

    :returns: (sha256, size) of the bytes placed.
    :raises VerifyError: when the read-back differs; the temp file is removed.
    """
    read_digest = hashlib.sha256()
    size = 0
    src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dst_fd = os.open(temp, flags, FILE_MODE)
        try:
            buffer = bytearray(_CHUNK)
            view = memoryview(buffer)
            with os.fdopen(src_fd, "rb", buffering=0, closefd=False) as reader:
                while count := reader.readinto(buffer):
                    read_digest.update(view[:count])
                    written = 0
                    while written < count:
                        written += os.write(dst_fd, view[written:count])
                    size += count
            os.fchmod(dst_fd, FILE_MODE)
            if owner is not None:
                os.fchown(dst_fd, owner.uid, owner.gid)
        finally:
            os.close(dst_fd)
        if sha256_file(temp) != read_digest.hexdigest():
            raise VerifyError(temp)
        os.utime(temp, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        if replace:
            os.replace(temp, dst)
        else:
            rename_noreplace(temp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    finally:
        os.close(src_fd)
    return read_digest.hexdigest(), size
