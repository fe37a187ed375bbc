"""What the library keeps in memory, and how it knows the files behind it are unchanged.

A kept thing (a run read from disk, an answer of the image route, a recorder) is given
again while the files it came from keep their identity: device, inode, size, mtime and
ctime. Timestamps only prove something once they are older than :data:`SETTLE_NS`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

#: Timestamps younger than this prove nothing: the file may still be written to, and a
#: change within the same tick of the kernel's coarse file clock leaves them as they were.
#: Whatever is kept on the strength of timestamps (runs, immutable answers, migrated
#: folders) is only kept once they are older; any later change then moves them.
SETTLE_NS = 2_000_000_000

#: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)
Identity = tuple[int, int, int, int, int]


def identity_of(status: os.stat_result) -> Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def identity(path: str | os.PathLike[str]) -> Identity | None:
    """The identity of what *path* names now (symlinks followed), None when it can't be
    stat'ed."""
    try:
        return identity_of(os.stat(path))
    except OSError:
        return None


def settled(identities: Iterable[Identity | None]) -> bool:
    """True when every identity given (None: nothing there) was last modified more than
    :data:`SETTLE_NS` ago."""
    horizon = time.time_ns() - SETTLE_NS
    return all(found is None or found[3] < horizon for found in identities)


Key = TypeVar("Key")
Value = TypeVar("Value")


class BoundedLRU(Generic[Key, Value]):
    """A thread-safe mapping of at most *size* entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Key, value: Value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)
