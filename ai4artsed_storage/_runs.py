"""Reading one run folder of any layout (A, A+B, B, C, D, canvas) into one model.

Pure reading: nothing here creates, moves or rewrites a file (the webserver's own
reader creates ``final/`` in old runs; we don't). Metadata is read tolerantly: unknown
keys kept, missing keys defaulted, a missing or unparseable metadata.json replaced by
what the files on disk say, so an image is never hidden by a broken JSON file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ai4artsed_storage._atomic import is_temp_name
from ai4artsed_storage._realpath import is_within, real_path_and_stat
from ai4artsed_storage._sniff import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

METADATA_NAME = "metadata.json"
FINAL_FOLDER = "final"
PROMPTING_FOLDER = "prompting_process"

_NUMBERED = re.compile(r"(\d{2,3})_([A-Za-z0-9_]+)\.([A-Za-z0-9]{1,10})")
_LEGACY_OUTPUT = re.compile(r"output_([A-Za-z0-9_]+)\.([A-Za-z0-9]{1,10})")
#: Layout A's un-numbered text files and the entity types they stand for.
_LEGACY_TEXT = {"input_text.txt": "input", "transformed_text.txt": "interception"}
#: A half-written metadata.json (the webserver truncates, then writes) is retried this often.
_METADATA_RETRIES = 3


@dataclass(frozen=True)
class Entity:
    """One recorded artefact of a run.

    ``type`` is normalized: canvas ``generation`` outputs read as ``output_image`` (or
    audio/video by extension) so that the media routes find them like any other output.
    """

    sequence: int
    type: str
    filename: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    node_id: str | None = None
    recorded: bool = True

    @property
    def extension(self) -> str:
        return PurePosixPath(self.filename).suffix.lstrip(".").lower()


def normalize_type(raw_type: str, filename: str) -> str:
    """Map a canvas ``generation`` node to the output type its file has."""
    if raw_type != "generation":
        return raw_type
    extension = PurePosixPath(filename).suffix.lstrip(".").lower()
    if extension in IMAGE_EXTENSIONS:
        return "output_image"
    if extension in AUDIO_EXTENSIONS:
        return "output_audio"
    if extension in VIDEO_EXTENSIONS:
        return "output_video"
    return raw_type


def is_safe_relative(name: str) -> bool:
    """True for a relative POSIX path with no ``..``, no absolute part and no NUL."""
    if not name or "\x00" in name or "\\" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and all(part not in ("..", ".", "") for part in path.parts)


@dataclass
class Run:
    """A run folder and what it holds."""

    run_id: str
    path: Path
    metadata: dict[str, Any]
    metadata_state: str  # "ok", "missing" or "unreadable"
    entities: list[Entity]
    layout: str
    _files: dict[str, Path | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def config_name(self) -> str:
        value = self.metadata.get("config_name") or self.metadata.get("schema")
        return str(value) if value else "unknown"

    @property
    def timestamp(self) -> str:
        return str(self.metadata.get("timestamp") or "")

    @property
    def is_canvas(self) -> bool:
        return self.metadata.get("type") == "canvas_workflow"

    def entities_of(self, *types: str) -> list[Entity]:
        """Entities of exactly these types, oldest first (by sequence)."""
        wanted = set(types)
        return sorted((e for e in self.entities if e.type in wanted), key=lambda e: e.sequence)

    def entity_path(self, entity: Entity) -> Path | None:
        """The entity's file: ``final/`` first (layout D), then the run folder (A, B, C).

        Returns None for a missing file, a name that is not a safe relative path, or a
        file whose real path (symlinks resolved) leaves the run folder.
        """
        return self.file_path(entity.filename)

    def file_path(self, name: str) -> Path | None:
        """A regular file of this run by its recorded name, checked as :meth:`entity_path`.

        Answers are remembered for the life of this object: a run kept by the store is
        dropped as soon as a file is added, removed or renamed in it.
        """
        try:
            return self._files[name]
        except KeyError:
            found = self._files[name] = self._find_file(name)
            return found

    def _find_file(self, name: str) -> Path | None:
        if not is_safe_relative(name):
            return None
        try:
            real_run, _ = real_path_and_stat(self.path)
        except OSError:
            return None
        for candidate in (self.path / FINAL_FOLDER / name, self.path / name):
            try:
                real, status = real_path_and_stat(candidate)
            except OSError:  # missing, a dangling or looping symlink, untraversable
                continue
            if real != real_run and is_within(real, real_run) and stat.S_ISREG(status.st_mode):
                return Path(real)
        return None


def read_metadata(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a metadata.json tolerantly; returns (data, state)."""
    for attempt in range(_METADATA_RETRIES):
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return {}, "missing"
        except (IsADirectoryError, PermissionError):
            return {}, "unreadable"
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            if attempt + 1 < _METADATA_RETRIES:
                time.sleep(0.01 * (attempt + 1))
            continue
        return (data, "ok") if isinstance(data, dict) else ({}, "unreadable")
    return {}, "unreadable"


def _as_int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def _recorded_entities(metadata: Mapping[str, Any]) -> list[Entity]:
    entities: list[Entity] = []
    raw_entities = metadata.get("entities")
    for position, record in enumerate(raw_entities if isinstance(raw_entities, list) else []):
        if not isinstance(record, dict) or not isinstance(record.get("filename"), str):
            continue
        raw_type = record.get("type") or record.get("node_type") or ""
        filename = record["filename"]
        entity_meta = record.get("metadata")
        node_id = record.get("node_id")
        entities.append(
            Entity(
                sequence=_as_int(record.get("sequence"), position + 1),
                type=normalize_type(str(raw_type), filename),
                filename=filename,
                metadata=entity_meta if isinstance(entity_meta, dict) else {},
                node_id=str(node_id) if node_id is not None else None,
            )
        )
    # Layout A's schema lists outputs instead of entities.
    outputs = metadata.get("outputs")
    for record in outputs if isinstance(outputs, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("filename"), str):
            continue
        media = str(record.get("type") or "")
        entities.append(
            Entity(
                sequence=0,
                type=media if media.startswith("output_") else f"output_{media}",
                filename=record["filename"],
                metadata={k: v for k, v in record.items() if k not in ("type", "filename")},
            )
        )
    return entities


def _files_on_disk(run_dir: Path) -> list[tuple[str, str]]:
    """(folder name relative to the run, file name) of candidate entity files."""
    found: list[tuple[str, str]] = []
    for folder in ("", FINAL_FOLDER):
        try:
            with os.scandir(run_dir / folder if folder else run_dir) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False) and not is_temp_name(entry.name):
                        found.append((folder, entry.name))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return found


def _unrecorded_entities(files: list[tuple[str, str]], known: set[str]) -> list[Entity]:
    """Entities for files no metadata mentions: A+B leftovers, runs without metadata."""
    entities: list[Entity] = []
    for _folder, name in files:
        if name in known:
            continue
        numbered = _NUMBERED.fullmatch(name)
        legacy = _LEGACY_OUTPUT.fullmatch(name)
        if numbered:
            sequence, raw_type = int(numbered.group(1)), numbered.group(2)
        elif legacy:
            sequence, raw_type = 0, f"output_{legacy.group(1)}"
        elif name in _LEGACY_TEXT:
            sequence, raw_type = 0, _LEGACY_TEXT[name]
        else:
            continue
        entities.append(Entity(sequence, normalize_type(raw_type, name), name, recorded=False))
    return entities


def _classify(
    run_dir: Path, json_depth: int, files: list[tuple[str, str]], meta: dict[str, Any]
) -> str:
    if meta.get("type") == "canvas_workflow":
        return "canvas"
    dated_device_run = json_depth == 3 and not run_dir.parent.name.startswith("legacy_")
    if dated_device_run or any(folder == FINAL_FOLDER for folder, _ in files):
        return "D"
    at_root = [name for folder, name in files if not folder]
    numbered = any(_NUMBERED.fullmatch(name) for name in at_root)
    legacy = any(_LEGACY_OUTPUT.fullmatch(name) or name in _LEGACY_TEXT for name in at_root)
    if numbered and legacy:
        return "A+B"
    if numbered or "entities" in meta:
        return "C" if json_depth == 2 else "B"
    return "A"


def read_run(run_dir: Path, run_id: str, *, json_depth: int = 0) -> Run:
    """Read the run in *run_dir* (its folder name is *run_id*).

    *json_depth* is the folder's depth below ``json/`` (1 for A/B, 2 for C, 3 for D), used
    only to name the layout.
    """
    metadata, state = read_metadata(run_dir / METADATA_NAME)
    entities = _recorded_entities(metadata)
    files = _files_on_disk(run_dir)
    known = {PurePosixPath(e.filename).name for e in entities}
    entities.extend(_unrecorded_entities(files, known))
    return Run(
        run_id=run_id,
        path=run_dir,
        metadata=metadata,
        metadata_state=state,
        entities=entities,
        layout=_classify(run_dir, json_depth, files, metadata),
    )


def looks_like_run(folder: Path) -> bool:
    """True for a folder holding a run (metadata, final/, or entity files), not a container."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name == METADATA_NAME or (name == FINAL_FOLDER and entry.is_dir()):
                    return True
                if entry.is_file(follow_symlinks=False) and (
                    _NUMBERED.fullmatch(name)
                    or _LEGACY_OUTPUT.fullmatch(name)
                    or name in _LEGACY_TEXT
                ):
                    return True
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False
    return False
