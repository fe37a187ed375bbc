"""Old exports/ trees as real hosts have them, and an inventory to prove nothing was lost."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.conftest import make_run, png_bytes, write_json

LAYOUTS = ["A", "A-nometa", "A+B", "B", "C", "D", "canvas"]


def run_id_for(layout: str, number: int) -> str:
    return f"run_17399744011{number:02d}_9f3a1c_{layout.replace('+', 'x').replace('-', '_')}"


def make_exports(base: Path, *, runs: int = 1, tag: str = "") -> Path:
    """An exports/ folder with every layout, uploads, documents and an unknown file."""
    exports = base / "exports"
    for number in range(runs):
        for layout in LAYOUTS:
            make_run(exports / "json", layout, run_id_for(layout, number), tag=tag)
    (exports / "uploads_tmp" / "masks").mkdir(parents=True)
    (exports / "uploads_tmp" / "0b6f3c1e.png").write_bytes(png_bytes(f"upload{tag}"))
    (exports / "uploads_tmp" / "masks" / "m1.png").write_bytes(png_bytes(f"mask{tag}"))
    (exports / "pipeline_runs").mkdir()
    (exports / "pipeline_runs" / "exec_20251101_101010_ab12cd34.json").write_text("{}")
    session = exports / "html" / "session_anna_20251201_ab12cd34"
    (session / "media").mkdir(parents=True)
    (session / "index.html").write_text(f"<html>{tag}</html>")
    (exports / "pdf").mkdir()
    (exports / "pdf" / "report.pdf").write_bytes(b"%PDF-1.4 " + tag.encode())
    (exports / "nobody-remembers.bin").write_bytes(os.urandom(64))
    return exports


def add_favorites(exports: Path, run_ids: list[str]) -> None:
    write_json(
        exports / "json" / "favorites.json",
        {
            "version": "1.0",
            "mode": "global",
            "favorites": [{"run_id": r, "media_type": "image"} for r in run_ids],
        },
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inventory(tree: Path, prefix: str = "") -> dict[str, str]:
    """relpath (under *prefix*) -> sha256 of every regular file; symlinks as their target."""
    found: dict[str, str] = {}
    if not tree.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*filenames, *dirnames):
            path = Path(dirpath, name)
            rel = f"{prefix}{path.relative_to(tree).as_posix()}"
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = sha256(path)
    return found


def root_inventory(root: Path) -> dict[str, str]:
    """The root's files, without the library's own state (index, journal, locks)."""
    return {k: v for k, v in inventory(root).items() if not k.startswith(".ai4artsed/")}


def assert_nothing_lost(
    before: dict[str, dict[str, str]], root: Path, sources_after: dict[str, dict[str, str]]
) -> None:
    """Every file of every source (label -> root-relative path -> sha) is in the root at its
    place or kept aside under .conflicts/<label>/, or still in its source (left in place);
    and the root holds nothing that came from nowhere."""
    after = root_inventory(root)
    contents = set(after.values())
    all_before: set[str] = set()
    for label, files in before.items():
        for rel, digest in files.items():
            all_before.add(digest)
            if rel == "json/favorites.json":
                continue
            places = [rel, f".conflicts/{label}/{rel}", f".conflicts/{label}/{rel}~{digest[:12]}"]
            placed = any(after.get(p) == digest for p in places)
            still_there = sources_after.get(label, {}).get(rel) == digest
            # A run found at another place with the same files dedups to the first place.
            assert placed or digest in contents or still_there, f"lost: {label}:{rel}"
    for rel, digest in after.items():
        if rel != "json/favorites.json" and not rel.endswith("/favorites.json"):
            assert digest in all_before, f"came from nowhere: {rel}"
    temps = [rel for rel in after if Path(rel).name.endswith(".tmp")]
    assert not temps, f"temp litter: {temps}"
