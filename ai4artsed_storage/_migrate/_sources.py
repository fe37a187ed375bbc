"""What a migration's SRC arguments name: folders whose contents move, and where to.

A SRC is ``[legacy:][LABEL=]PATH`` where PATH is an exports/ folder, a bare json/ folder, or
a checkout (its exports/ plus its pre-exports data). Pre-exports data
(``<checkout>/devserver/pipeline_runs``, ``<checkout>/media_storage/runs``) is found beside
an exports/ folder named ``exports`` too, and goes under ``<root>/legacy/<label>/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ai4artsed_storage._errors import MigrationError
from ai4artsed_storage._root import EXPORT_FOLDERS, LEGACY_FOLDER

#: Data older than exports/, relative to a checkout.
PRE_EXPORTS = ("devserver/pipeline_runs", "media_storage/runs")
_DATE_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Unit:
    """One folder whose whole content moves to ``<root>/<dest>/``.

    :param path: the real (symlink-free) folder.
    :param dest: relative to the root: ``""`` for exports/, ``json`` for a bare json/,
        ``legacy/<label>/devserver/pipeline_runs`` for pre-exports data.
    """

    label: str
    kind: str  # "exports", "json" or "legacy"
    path: Path
    dest: PurePosixPath
    given: str

    @property
    def json_dir(self) -> Path | None:
        """Where this unit's runs are, if it has runs the index must know."""
        if self.kind == "exports":
            return self.path / "json"
        return self.path if self.kind == "json" else None


@dataclass(frozen=True)
class Skipped:
    given: str
    reason: str


def _label_from(path: Path) -> str:
    anchor = path.parent if path.name in ("exports", "json") else path
    if path.name == "json" and anchor.name == "exports":
        anchor = anchor.parent
    return _UNSAFE_LABEL.sub("_", anchor.name).strip("._") or "source"


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _looks_like_json(path: Path) -> bool:
    if path.name == "json":
        return True
    names = set(os.listdir(path))
    if names & set(EXPORT_FOLDERS):
        return False
    return "favorites.json" in names or any(_DATE_FOLDER.fullmatch(name) for name in names)


def _check_readable(path: Path, given: str) -> None:
    if not path.exists():
        raise MigrationError(f"source {given!r} does not exist", path)
    if not path.is_dir():
        raise MigrationError(f"source {given!r} is not a directory", path)
    if not os.access(path, os.R_OK | os.X_OK):
        raise MigrationError(f"source {given!r} is not readable", path)


def _pre_exports(checkout: Path, label: str, given: str) -> list[Unit]:
    units = []
    for rel in PRE_EXPORTS:
        folder = checkout / rel
        if folder.is_dir() and not folder.is_symlink():
            dest = PurePosixPath(LEGACY_FOLDER, label, rel)
            units.append(Unit(label, "legacy", folder.resolve(), dest, given))
    return units


def resolve_sources(specs: Sequence[str], root: Path) -> tuple[list[Unit], list[Skipped]]:
    """Turn SRC arguments into units, refusing bad input before anything is touched.

    :raises MigrationError: missing or unreadable source, a source inside the root, the
        root inside a source, two sources overlapping.
    """
    real_root = root.resolve()
    units: list[Unit] = []
    skipped: list[Skipped] = []
    labels: dict[str, Path] = {}
    for spec in specs:
        rest = spec
        legacy_only = rest.startswith("legacy:")
        if legacy_only:
            rest = rest.removeprefix("legacy:")
        label, sep, raw = rest.partition("=")
        if not sep or "/" in label:
            label, raw = "", rest
        given = Path(raw).absolute()
        real = given.resolve()
        if _inside(real, real_root):
            if not any(p.is_symlink() for p in (given, *given.parents)):
                raise MigrationError(f"source {spec!r} is inside the storage root", real)
            # What deploy leaves behind: <checkout>/exports -> root. Already migrated, but
            # the checkout's pre-exports data may not be.
            skipped.append(Skipped(spec, f"resolves into the root ({real})"))
            if not legacy_only and given.name == "exports":
                label = _unique(label or _label_from(given), labels, given.parent)
                units.extend(_pre_exports(given.parent, label, spec))
            continue
        _check_readable(real, spec)
        if _inside(real_root, real):
            raise MigrationError(f"the storage root is inside source {spec!r}", real)
        label = _unique(label or _label_from(given), labels, real)
        if legacy_only:
            found = _pre_exports(real, label, spec)
            if not found:
                raise MigrationError(f"no pre-exports data under {spec!r}", real)
            units.extend(found)
        elif (real / "devserver").is_dir() and given.name not in ("exports", "json"):
            exports = real / "exports"
            if exports.is_symlink() and _inside(exports.resolve(), real_root):
                skipped.append(Skipped(f"{spec}/exports", "resolves into the root"))
            elif exports.is_dir():
                units.append(Unit(label, "exports", exports.resolve(), PurePosixPath(), spec))
            units.extend(_pre_exports(real, label, spec))
        elif _looks_like_json(real):
            units.append(Unit(label, "json", real, PurePosixPath("json"), spec))
        else:
            units.append(Unit(label, "exports", real, PurePosixPath(), spec))
            if given.name == "exports":
                units.extend(_pre_exports(given.parent, label, spec))
    _refuse_overlaps(units)
    return units, skipped


def _unique(label: str, labels: dict[str, Path], path: Path) -> str:
    """The label, suffixed ``-2``, ``-3``... when another source already uses it."""
    candidate, number = label, 1
    while candidate in labels and labels[candidate] != path:
        number += 1
        candidate = f"{label}-{number}"
    labels[candidate] = path
    return candidate


def _refuse_overlaps(units: list[Unit]) -> None:
    for index, unit in enumerate(units):
        for other in units[index + 1 :]:
            if _inside(unit.path, other.path) or _inside(other.path, unit.path):
                raise MigrationError(
                    f"sources overlap: {unit.given!r} and {other.given!r}", unit.path
                )
