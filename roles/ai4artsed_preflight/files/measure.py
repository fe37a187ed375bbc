"""Print, as JSON, what a migration into ROOT needs from SOURCES (read-only).

usage: measure.py ROOT [SOURCE ...]

Bytes of a source on the root's filesystem can be renamed into place and need
no space; bytes from any other filesystem are copied. Unreadable entries are
listed because the migration would have to leave them behind.
"""

from __future__ import annotations

import json
import os
import sys


def existing_ancestor(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def mount_point(path: str) -> str:
    device = os.stat(path).st_dev
    while path != "/" and os.stat(os.path.dirname(path)).st_dev == device:
        path = os.path.dirname(path)
    return path


def tree_bytes(top: str, unreadable: list[str]) -> int:
    total = 0
    for folder, _dirs, files in os.walk(top, onerror=lambda err: unreadable.append(err.filename)):
        if not os.access(folder, os.R_OK | os.X_OK):
            unreadable.append(folder)
        for name in files:
            path = os.path.join(folder, name)
            # Links are recreated, not followed: their targets cost nothing here.
            if os.path.islink(path):
                continue
            if not os.access(path, os.R_OK):
                unreadable.append(path)
            total += os.lstat(path).st_size
    return total


def main(root: str, sources: list[str]) -> dict[str, object]:
    anchor = existing_ancestor(root)
    root_device = os.stat(anchor).st_dev
    stats = os.statvfs(anchor)
    real_root = os.path.realpath(root)
    copy_bytes = rename_bytes = 0
    skipped: list[str] = []
    unreadable: list[str] = []
    for source in sources:
        # What a previous deploy left: a symlink into the root, nothing to move.
        resolved = os.path.realpath(source)
        if (
            not os.path.exists(source)
            or resolved == real_root
            or resolved.startswith(real_root + os.sep)
        ):
            skipped.append(source)
            continue
        size = tree_bytes(source, unreadable)
        if os.stat(source).st_dev == root_device:
            rename_bytes += size
        else:
            copy_bytes += size
    return {
        "filesystem": mount_point(anchor),
        "free_bytes": stats.f_bavail * stats.f_frsize,
        "copy_bytes": copy_bytes,
        "rename_bytes": rename_bytes,
        "skipped": skipped,
        "unreadable": unreadable,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
