"""Advisory ``flock`` locks on files under the root's state folder.

One fcntl lock is all we need (unlike filelock's menu). Lock files are never unlinked:
unlinking a lock file while another process waits on it lets two holders in at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

#: Run locks are striped over this many files so that a million runs leave 64 lock files,
#: not a million; two runs sharing a stripe merely take turns for a few milliseconds.
RUN_LOCK_STRIPES = 64


@contextlib.contextmanager
def locked(path: Path, *, blocking: bool = True) -> Iterator[int]:
    """Hold an exclusive flock on *path* (created 0640 if absent); yields the open fd.

    :raises BlockingIOError: when *blocking* is false and another holder has it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        yield fd
    finally:
        os.close(fd)


def run_lock_path(locks_dir: Path, run_id: str) -> Path:
    """The stripe file that serializes writers of *run_id*."""
    stripe = zlib.crc32(run_id.encode("utf-8")) % RUN_LOCK_STRIPES
    return locks_dir / f"run-{stripe:02d}.lock"
