"""Where an existing path really is (every symlink resolved), asked of the kernel.

``os.path.realpath`` walks the path in Python, one ``lstat`` per component: on the image
route that was a fifth of the time spent per request. Opening the path with ``O_PATH``
(no read permission needed, no side effect even on a FIFO or device) and reading the
``/proc/self/fd`` link gives the same answer in three system calls, plus the file's
``stat`` for free. Where ``/proc`` is missing (not Linux, or a chroot without it), the
Python walk answers instead.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC_FD = "/proc/self/fd"
_O_PATH = getattr(os, "O_PATH", 0)
_FAST = bool(_O_PATH) and os.path.isdir(_PROC_FD)


def real_path_and_stat(path: Path | str) -> tuple[str, os.stat_result]:
    """The real path of the existing *path*, and its ``stat``.

    :raises OSError: ``FileNotFoundError`` for a missing path or a dangling symlink,
        ``ELOOP`` for a symlink loop, ``EACCES`` for an untraversable folder.
    """
    if not _FAST:
        real = os.path.realpath(path, strict=True)
        return real, os.stat(real)
    descriptor = os.open(path, _O_PATH | os.O_CLOEXEC)
    try:
        return os.readlink(f"{_PROC_FD}/{descriptor}"), os.fstat(descriptor)
    finally:
        os.close(descriptor)


def is_within(real: str, real_base: str) -> bool:
    """True when the real path *real* is *real_base* or lies below it."""
    return real == real_base or real.startswith(real_base.rstrip("/") + "/")
