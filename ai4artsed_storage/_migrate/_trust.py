"""Which source folders a rerun may take as verified without listing them.

After a clean copy, each source folder is recorded with its signature: inode, ctime and
mtime. Creating, removing or renaming an entry in a folder changes its mtime and ctime
(ctime cannot be set back from user space, so tools restoring mtimes do not hide a change);
so while the signature holds, the folder has the same entries as when every one of them was
verified, and the rerun lists only its subfolders' signatures, not its files.

What a signature cannot see is a file rewritten in place (truncate, then write): the
webserver does that to ``metadata.json`` and the other ``*.json`` files of a run. Those are
"watched": their size and mtime are recorded and stat'ed on every rerun. A non-JSON file
rewritten in place inside an unchanged folder is what a rerun misses: the webserver never
does that (it writes media once, under new names), and in copy mode the source keeps it.
A folder changed within a second before it was listed is not recorded (a coarse clock
could give a later change the same timestamp). The root side is held the same way: the
root folder the files went to is recorded with its signature after the migration, so a
file deleted there (or added by the webserver since) makes the rerun list and check again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable

from ai4artsed_storage._journal import FolderRecord
from ai4artsed_storage._kept import SETTLE_NS


def signature(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_ctime_ns}:{st.st_mtime_ns}"


def watched(name: str) -> bool:
    return name.endswith(".json")


def record(
    path: str,
    st: os.stat_result,
    subdirs: list[str],
    files: list[tuple[str, os.stat_result]],
    dst: str,
) -> FolderRecord | None:
    """The record for a folder about to be verified whole into the root folder *dst*, or
    None if it changed too recently; :func:`settled` completes it."""
    if st.st_ctime_ns > time.time_ns() - SETTLE_NS:
        return None
    watch = [[name, fst.st_size, fst.st_mtime_ns] for name, fst in files if watched(name)]
    return FolderRecord(
        path,
        signature(st),
        len(files),
        sum(fst.st_size for _name, fst in files),
        "/".join(subdirs),
        json.dumps(watch),
        dst,
        "",
    )


def settled(records: Iterable[FolderRecord]) -> list[FolderRecord]:
    """*records* with the signature of their root folder, now that the files are there."""
    done = []
    for record in records:
        try:
            st = os.lstat(record.dst)
        except OSError:
            continue
        done.append(dataclasses.replace(record, dst_sig=signature(st)))
    return done


def subfolders_if_unchanged(
    path: str, known: FolderRecord
) -> list[tuple[str, str, os.stat_result]] | None:
    """The folder's subfolders (name, path, lstat) if its signature and its watched files
    are as recorded; None if anything differs or cannot be stat'ed (then it is listed)."""
    try:
        if signature(os.lstat(path)) != known.sig:
            return None
        if signature(os.lstat(known.dst)) != known.dst_sig:
            return None
        for name, size, mtime_ns in json.loads(known.watch):
            st = os.lstat(f"{path}/{name}")
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                return None
        names = known.subdirs.split("/") if known.subdirs else []
        return [(name, f"{path}/{name}", os.lstat(f"{path}/{name}")) for name in names]
    except OSError:
        return None
