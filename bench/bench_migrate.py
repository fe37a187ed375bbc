"""Migrating a synthetic exports/ tree, beside `cp -a` and `rsync -a` of the same tree.

Default: 10k layout-D runs, about 2 GB (`--runs/--size` for a quick run). Cross-fs copies
go to a tmpfs this script mounts (root needed); every figure is measured in this one run and
reported as a ratio to `cp -a` to the same destination. Caches are dropped before each
timed step so each starts cold from the source disk's point of view; reruns are measured
cold and then warm (straight after the cold one). The tmpfs makes syncfs free cross-fs,
as `cp -a` (no fsync) pays none either; same-fs both run on the work disk.

`find -printf` over the same tree is the floor of any tool that must look at every entry
(migrate does: modes 0750/0640, owner, symlinks and temp files are per entry): a cold walk,
once sequential, once as 16 processes at a time (what the disk allows without a GIL).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ai4artsed_storage._migrate import migrate


def build(exports: Path, runs: int, total_bytes: int) -> None:
    image_size = max(1024, total_bytes // runs)
    noise = os.urandom(1 << 20)
    for number in range(runs):
        run_id = f"run_17399744{number:05d}_9f3a1c"
        run = (
            exports / "json" / f"2026-02-{1 + number % 28:02d}" / f"dev_{number % 10:012d}" / run_id
        )
        (run / "final").mkdir(parents=True)
        (run / "metadata.json").write_text(json.dumps({"run_id": run_id, "entities": []}))
        (run / "final" / "01_input.txt").write_text(f"prompt {number}")
        offset = (number * 7919) % (len(noise) - 64)
        body = (noise[offset:] + noise)[: image_size - 8]
        (run / "final" / "03_output_image.png").write_bytes(number.to_bytes(8, "big") + body)


def drop_caches() -> None:
    os.sync()
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/drop_caches").write_text("3")


def timed(step: Callable[[], object]) -> float:
    drop_caches()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def shell(*args: str) -> None:
    subprocess.run(args, check=True)


def find_walk(tree: Path, parallel: bool) -> None:
    """Stat every entry as migrate must, without Python: the cold-walk floor."""
    stat_all = 'exec find "$@" -printf "%s %m %u\\n"'
    tops = str(tree)
    if parallel:  # the dated device folders (tree/json/<date>/<device>), 16 at a time
        tops = subprocess.run(
            ["find", str(tree), "-mindepth", "3", "-maxdepth", "3", "-type", "d"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    subprocess.run(
        ["xargs", "-P", "16" if parallel else "1", "-n", "8", "sh", "-c", stat_all, "sh"],
        input=tops,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=2048, help="total MB")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-migrate-", dir=args.workdir))
    mnt = work / "tmpfs"
    mnt.mkdir()
    size_mb = args.size * 2 + 256
    shell("mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt))
    rows: list[tuple[str, float, float | None]] = []
    try:
        source = work / "src" / "exports"
        build(source, args.runs, args.size << 20)
        print(f"tree: {args.runs} runs, {args.size} MB, {args.runs * 3} files", file=sys.stderr)

        cp_cross = timed(lambda: shell("cp", "-a", str(source), str(mnt / "cp")))
        shutil.rmtree(mnt / "cp")
        rsync_cross = timed(lambda: shell("rsync", "-a", f"{source}/", str(mnt / "rsync")))
        shutil.rmtree(mnt / "rsync")
        mig_cross = timed(lambda: migrate([str(source)], mnt / "root"))
        rerun_cross = timed(lambda: migrate([str(source)], mnt / "root"))
        start = time.perf_counter()
        migrate([str(source)], mnt / "root")
        rerun_cross_warm = time.perf_counter() - start
        rows += [
            ("cross-fs: cp -a (no fsync)", cp_cross, 1.0),
            ("cross-fs: rsync -a", rsync_cross, rsync_cross / cp_cross),
            (
                "cross-fs: migrate (sha256 + byte-exact read-back, syncfs)",
                mig_cross,
                mig_cross / cp_cross,
            ),
            ("cross-fs: rerun migrate (cold cache)", rerun_cross, None),
            ("cross-fs: rerun migrate (warm cache)", rerun_cross_warm, None),
        ]
        shutil.rmtree(mnt / "root")

        cp_same = timed(lambda: shell("cp", "-a", str(source), str(work / "cp")))
        rsync_same = timed(lambda: shell("rsync", "-a", f"{source}/", str(work / "rsync")))
        shutil.rmtree(work / "rsync")
        # migrate consumes its source on the same filesystem: it moves the cp -a copy.
        find_seq = timed(lambda: find_walk(work / "cp", parallel=False))
        find_par = timed(lambda: find_walk(work / "cp", parallel=True))
        mig_same = timed(lambda: migrate([str(work / "cp")], work / "root"))
        rerun_same = timed(lambda: migrate([str(work / "cp")], work / "root"))
        start = time.perf_counter()
        migrate([str(work / "cp")], work / "root")
        rerun_same_warm = time.perf_counter() - start
        rows += [
            ("same-fs: cp -a (no fsync)", cp_same, 1.0),
            ("same-fs: rsync -a", rsync_same, rsync_same / cp_same),
            ("same-fs: cold walk floor, find -printf", find_seq, find_seq / cp_same),
            ("same-fs: cold walk floor, find -printf x16", find_par, find_par / cp_same),
            ("same-fs: migrate (folder renames, modes)", mig_same, mig_same / cp_same),
            ("same-fs: rerun migrate (cold cache)", rerun_same, None),
            ("same-fs: rerun migrate (warm cache)", rerun_same_warm, None),
        ]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"| way ({args.runs} runs, {args.size} MB) | seconds | x cp -a |")
    print("|---|---|---|")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.3f} | {'-' if ratio is None else f'{ratio:.3f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
