"""Finding a run by id: the library's index (RunStore.locate + stat) beside the webserver's way.

The peer is the lookup the webserver does today: date folders newest first, in each the
device folders, until ``<date>/<device>/<run_id>`` exists. Both run in this process, on the
same layout-D trees (365 dates x 10 devices), uniformly random ids, warm caches (every run
folder stat'ed once first).

Trees are cached under /var/tmp/ai4artsed-bench/ (1M run folders take a few minutes and
about 4 GB to build once); ``--rebuild`` builds them again. Run with ``--sizes 1000,100000``
for a quick look.

Targets: 1M runs within 1.2x of 1k (p50); at 100k at least 50x faster than the scan.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

from ai4artsed_storage import RunStore, StorageRoot

CACHE = Path("/var/tmp/ai4artsed-bench")
DATES = 365
DEVICES = 10
COMPLETE_MARKER = ".bench-complete"


def run_layout(count: int) -> Iterator[tuple[str, str]]:
    """(run_id, path relative to json/) of *count* runs spread evenly over dates x devices."""
    first = date(2025, 2, 20)
    for number in range(count):
        day = first + timedelta(days=number % DATES)
        device = f"browser{(number // DATES) % DEVICES:02d}_{day.isoformat()}"
        run_id = f"run_{1739974401123 + number}_{number % 0xFFFFFF:06x}"
        yield run_id, f"{day.isoformat()}/{device}/{run_id}"


def build_tree(count: int, rebuild: bool) -> Path:
    root = CACHE / f"lookup-{count}"
    if (root / COMPLETE_MARKER).exists() and not rebuild:
        return root
    if root.exists():
        shutil.rmtree(root)
    json_dir = root / "json"
    started = time.monotonic()
    made: set[str] = set()
    for _, relpath in run_layout(count):
        parent = relpath.rsplit("/", 1)[0]
        if parent not in made:
            os.makedirs(json_dir / parent, exist_ok=True)
            made.add(parent)
        os.mkdir(json_dir / relpath)
    store = RunStore(StorageRoot(root).open())
    store.index.replace_all(run_layout(count))
    (root / COMPLETE_MARKER).write_text(str(count))
    print(f"  built {count:,} runs in {time.monotonic() - started:.0f} s under {root}")
    return root


def webserver_scan(json_dir: Path, run_id: str) -> Path | None:
    """Today's lookup: date folders newest first, then each device folder in them."""
    dates = sorted((p for p in json_dir.iterdir() if p.is_dir()), reverse=True)
    for date_folder in dates:
        for device in date_folder.iterdir():
            candidate = device / run_id
            if candidate.is_dir():
                return candidate
    return None


def timed(lookup: Callable[[str], object], run_ids: list[str]) -> list[float]:
    """Seconds per lookup."""
    times = []
    for run_id in run_ids:
        start = time.perf_counter_ns()
        found = lookup(run_id)
        times.append((time.perf_counter_ns() - start) / 1e9)
        if found is None:
            raise AssertionError(f"{run_id} not found")
    return times


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.1f} ms"


class Subject:
    """One tree: its store, its ids, and the times measured on it so far."""

    def __init__(self, count: int, rebuild: bool) -> None:
        self.count = count
        self.root = build_tree(count, rebuild)
        self.store = RunStore(StorageRoot(self.root).open())
        self.ids = [run_id for run_id, _ in run_layout(count)]
        self.rng = random.Random(count)
        self.index_times: list[float] = []
        self.scan_times: list[float] = []

    def locate_and_stat(self, run_id: str) -> object:
        return self.store.locate(run_id).stat()

    def scan(self, run_id: str) -> object:
        return webserver_scan(self.root / "json", run_id)

    def sample(self, count: int) -> list[str]:
        return [self.rng.choice(self.ids) for _ in range(count)]


def measure(subjects: list[Subject], samples: int, scan_samples: int, rounds: int) -> None:
    """Round-robin over the trees, so that noise from a shared machine hits all alike."""
    for subject in subjects:
        # "Warm" = every run folder's dentry and inode cached, as on a server that has been
        # serving them; otherwise a bigger tree measures the kernel's directory lookups on
        # first touch, not the index.
        for _, relpath in run_layout(subject.count):
            os.stat(subject.root / "json" / relpath)
        timed(subject.locate_and_stat, subject.sample(500))
        timed(subject.scan, subject.sample(3))
    per_round, scans_per_round = samples // rounds, max(1, scan_samples // rounds)
    for _ in range(rounds):
        for subject in subjects:
            subject.index_times += timed(subject.locate_and_stat, subject.sample(per_round))
            subject.scan_times += timed(subject.scan, subject.sample(scans_per_round))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="comma-separated")
    parser.add_argument("--samples", type=int, default=20000, help="index lookups per size")
    parser.add_argument("--scan-samples", type=int, default=100, help="scans per size")
    parser.add_argument("--rounds", type=int, default=10, help="round-robin rounds")
    parser.add_argument("--rebuild", action="store_true", help="build the cached trees again")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"trees under {CACHE} (cached between runs) ...", flush=True)
    subjects = [Subject(size, args.rebuild) for size in sizes]
    measure(subjects, args.samples, args.scan_samples, args.rounds)
    results = {
        s.count: {
            "index_p50": p(s.index_times, 50),
            "index_p99": p(s.index_times, 99),
            "scan_p50": p(s.scan_times, 50),
            "scan_p99": p(s.scan_times, 99),
        }
        for s in subjects
    }

    base = results[sizes[0]]["index_p50"]
    print()
    print(f"Lookup by id, layout D over {DATES} dates x {DEVICES} devices, warm caches")
    header = (
        "| runs | index+stat p50 | p99 | x smallest (p50) "
        "| webserver scan p50 | p99 | scan / index (p50) |"
    )
    print(header)
    print("|" + "---|" * 7)
    for size in sizes:
        r = results[size]
        print(
            f"| {size:,} | {fmt(r['index_p50'])} | {fmt(r['index_p99'])} "
            f"| {r['index_p50'] / base:.2f} | {fmt(r['scan_p50'])} | {fmt(r['scan_p99'])} "
            f"| {r['scan_p50'] / r['index_p50']:,.0f}x |"
        )
    largest, smallest = max(sizes), min(sizes)
    if largest != smallest:
        ratio = results[largest]["index_p50"] / results[smallest]["index_p50"]
        verdict = "met" if ratio <= 1.2 else "MISSED"
        print(f"target {largest:,} within 1.2x of {smallest:,}: {ratio:.2f}x, {verdict}")
    if 100_000 in results:
        speedup = results[100_000]["scan_p50"] / results[100_000]["index_p50"]
        verdict = "met" if speedup >= 50 else "MISSED"
        print(f"target 100k at least 50x faster than the scan: {speedup:,.0f}x, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
