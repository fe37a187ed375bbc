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
import threading
from dataclasses import dataclass
from pathlib import Path

from ai4artsed_storage._atomic import FILE_MODE

_CHUNK = 1 << 20
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_buffers = threading.local()


def _buffer(name: str) -> bytearray:
    """A chunk buffer per thread and purpose: a fresh 1 MiB per file costs page faults
    that add up over 30k files."""
    buffer: bytearray | None = getattr(_buffers, name, None)
    if buffer is None:
        buffer = bytearray(_CHUNK)
        setattr(_buffers, name, buffer)
    return buffer


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a regular file, read without following a final symlink."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        buffer = _buffer("hash")
        view = memoryview(buffer)
        while count := os.readv(fd, [buffer]):
            digest.update(view[:count])
    finally:
        os.close(fd)
    return digest.hexdigest()


def rename_noreplace(src: str | Path, dst: str | Path) -> None:
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

    def apply(self, path: str | Path) -> None:
        os.lchown(path, self.uid, self.gid)


class VerifyError(OSError):
    """What was written differs from what was read: the copy is discarded."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(errno.EIO, "checksum of the copy differs from the source", str(path))


def copy_verified(
    src: str,
    temp: str,
    dst: str,
    *,
    mtime_ns: int,
    owner: Ownership | None,
    replace: bool,
) -> tuple[str, int]:
    """Copy *src* via *temp* (beside *dst*) and rename it into place once verified.

    Each chunk is hashed as read, written, then read back from the temp file and compared
    byte for byte with what was read: exact equality is a stronger check than comparing a
    second digest, and a memcmp costs a fraction of hashing the file twice. The read-back
    comes from the page cache, as any read-back before the batch's syncfs would. No fsync
    here: the caller syncs the filesystem per batch. *replace* is only for a destination
    this migration itself left half-done.

    :returns: (sha256 of the bytes read and placed, size).
    :raises VerifyError: when the read-back differs; the temp file is removed.
    """
    digest = hashlib.sha256()
    size = 0
    src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dst_fd = os.open(temp, flags, FILE_MODE)
        try:
            buffer, check = _buffer("read"), _buffer("check")
            view, check_view = memoryview(buffer), memoryview(check)
            while count := os.readv(src_fd, [buffer]):
                digest.update(view[:count])
                written = 0
                while written < count:
                    written += os.write(dst_fd, view[written:count])
                back = os.preadv(dst_fd, [check_view[:count]], size)
                same = buffer == check if count == _CHUNK else buffer[:count] == check[:count]
                if back != count or not same:
                    raise VerifyError(temp)
                size += count
            os.fchmod(dst_fd, FILE_MODE)
            if owner is not None:
                os.fchown(dst_fd, owner.uid, owner.gid)
            os.utime(dst_fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(dst_fd)
        if replace:
            os.replace(temp, dst)
        else:
            rename_noreplace(temp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        os.close(src_fd)
    return digest.hexdigest(), size
