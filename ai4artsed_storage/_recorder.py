"""LivePipelineRecorder: the webserver's recorder, rebuilt on the one storage root.

Same constructor, methods and metadata as the webserver's, so adopting it is a change of
import. What differs is what cannot be seen from the API:

- ``base_path=None`` means ``<root>/json`` of the configured root, never the cwd;
- every file and every metadata.json is written atomically and durably;
- writers of one run, in any process, serialize on a lock and re-read metadata under it,
  so no entity is lost and sequence numbers stay unique;
- the in-process cache is bounded and only saves a lookup: state always comes from disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ai4artsed_storage._atomic import atomic_write_bytes, atomic_write_json, dump_json, make_dirs
from ai4artsed_storage._comfyui import (
    ComfyUIClient,
    download_and_save_from_comfyui,
    download_and_save_from_url,
)
from ai4artsed_storage._errors import RunNotFound, StorageConfigError
from ai4artsed_storage._ids import fallback_device_id, validate_device_id, validate_run_id
from ai4artsed_storage._kept import BoundedLRU
from ai4artsed_storage._lock import locked, run_lock_path
from ai4artsed_storage._root import StorageRoot
from ai4artsed_storage._runs import (
    _NUMBERED,
    FINAL_FOLDER,
    METADATA_NAME,
    PROMPTING_FOLDER,
    read_metadata,
)
from ai4artsed_storage._settings import load_settings
from ai4artsed_storage._sniff import SNIFF_BYTES, sniff_extension
from ai4artsed_storage._store import RunStore, open_store

T = TypeVar("T")

DEFAULT_EXPECTED_OUTPUTS = (
    "input",
    "translation",
    "safety",
    "interception",
    "safety_pre_output",
    "output_image",
)
#: Recorders kept in memory per process; beyond this the least recently used is dropped.
RECORDER_CACHE_SIZE = 256


def _now() -> str:
    return datetime.now().isoformat()


def _safe_extension(value: object) -> str | None:
    text = str(value).lower().lstrip(".")
    return text if 0 < len(text) <= 10 and text.isalnum() and text.isascii() else None


def extension_for(content: str | bytes | dict[str, Any], metadata: dict[str, Any] | None) -> str:
    """dict -> json, str -> txt, bytes -> metadata ``format``, else sniffed, else bin."""
    if isinstance(content, dict):
        return "json"
    if isinstance(content, str):
        return "txt"
    declared = _safe_extension(metadata["format"]) if metadata and "format" in metadata else None
    return declared or sniff_extension(content[:SNIFF_BYTES]) or "bin"


def encode(content: str | bytes | dict[str, Any]) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, dict):
        return dump_json(content)
    return str(content).encode("utf-8")


def _highest_number(folder: Path, records: list[Any]) -> int:
    """Highest sequence used by *records* or by a numbered file already in *folder*.

    Files count too: a writer killed between writing its file and its metadata leaves a
    numbered file that a new entity must not replace.
    """
    highest = 0
    for record in records:
        if isinstance(record, dict):
            try:
                highest = max(highest, int(record.get("sequence", 0)))
            except (TypeError, ValueError):
                continue
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _NUMBERED.fullmatch(entry.name)
                if match:
                    highest = max(highest, int(match.group(1)))
    except FileNotFoundError:
        pass
    return highest


def _store_for(base_path: Path | str | None) -> RunStore:
    if base_path is None:
        return open_store()
    base = Path(base_path)
    if not base.is_absolute():
        raise StorageConfigError(
            "base_path must be absolute (the folder holding the runs, <root>/json)",
            value=base_path,
            source="base_path argument",
        )
    return open_store(base.parent, source="base_path argument")


class LivePipelineRecorder:
    """Records one pipeline run in layout D: ``<base>/<date>/<device>/<run_id>/final/...``."""

    run_folder: Path
    metadata: dict[str, Any]

    def __init__(
        self,
        run_id: str,
        config_name: str,
        execution_mode: str,
        safety_level: str,
        user_id: str = "anonymous",
        device_id: str | None = None,
        base_path: Path | str | None = None,
    ) -> None:
        self.run_id = validate_run_id(run_id)
        self._store = _store_for(base_path)
        self.base_path = self._store.root.json_dir
        self.config_name = config_name
        self.execution_mode = execution_mode
        self.safety_level = safety_level
        self.user_id = user_id
        self.device_id = validate_device_id(device_id) if device_id else fallback_device_id()
        self.expected_outputs = list(DEFAULT_EXPECTED_OUTPUTS)
        date_folder = datetime.now().strftime("%Y-%m-%d")
        self.run_folder = self.base_path / date_folder / self.device_id / self.run_id
        with self._locked():
            make_dirs(self.final_folder)
            existing, state = read_metadata(self.run_folder / METADATA_NAME)
            if state == "ok":
                # Same run_id again in the same folder: adopt it rather than wipe its entities.
                self.metadata = existing
            else:
                self.metadata = {
                    "run_id": self.run_id,
                    "timestamp": _now(),
                    "config_name": config_name,
                    "execution_mode": execution_mode,
                    "safety_level": safety_level,
                    "user_id": user_id,
                    # The webserver records the raw request value, null when none was sent.
                    "device_id": device_id,
                    "expected_outputs": self.expected_outputs,
                    "current_state": {"stage": 0, "step": "initialized", "progress": "0/6"},
                    "entities": [],
                }
                atomic_write_json(self.run_folder / METADATA_NAME, self.metadata)
        self._store.record(self.run_id, self.run_folder)

    @classmethod
    def _from_disk(cls, store: RunStore, run_id: str, run_folder: Path) -> LivePipelineRecorder:
        recorder = cls.__new__(cls)
        recorder.run_id = run_id
        recorder._store = store
        recorder.base_path = store.root.json_dir
        recorder.run_folder = run_folder
        recorder.metadata = {}
        recorder.refresh()
        meta = recorder.metadata
        recorder.config_name = str(meta.get("config_name") or meta.get("schema") or "unknown")
        recorder.execution_mode = str(meta.get("execution_mode", "eco"))
        recorder.safety_level = str(meta.get("safety_level", "kids"))
        recorder.user_id = str(meta.get("user_id", "anonymous"))
        recorder.device_id = str(meta.get("device_id") or run_folder.parent.name)
        expected = meta.get("expected_outputs")
        recorder.expected_outputs = (
            list(expected) if isinstance(expected, list) else list(DEFAULT_EXPECTED_OUTPUTS)
        )
        return recorder

    @property
    def final_folder(self) -> Path:
        return self.run_folder / FINAL_FOLDER

    @property
    def prompting_folder(self) -> Path:
        return self.run_folder / PROMPTING_FOLDER

    @property
    def storage_root(self) -> StorageRoot:
        return self._store.root

    def _locked(self) -> Any:
        return locked(run_lock_path(self._store.root.locks_dir, self.run_id))

    def refresh(self) -> dict[str, Any]:
        """Re-read metadata.json (another process may have written); returns it."""
        data, state = read_metadata(self.run_folder / METADATA_NAME)
        if state == "ok":
            data.setdefault("entities", [])
            if not isinstance(data["entities"], list):
                data["entities"] = []
            self.metadata = data
        return self.metadata

    def _update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply *change* to fresh metadata under the run lock and write it atomically."""
        with self._locked():
            metadata = self.refresh()
            result = change(metadata)
            atomic_write_json(self.run_folder / METADATA_NAME, metadata)
            return result

    def _progress(self, metadata: dict[str, Any]) -> str:
        return f"{len(metadata['entities'])}/{len(self.expected_outputs)}"

    def set_state(self, stage: int, step: str) -> None:
        """Record the pipeline's current stage and step."""

        def change(metadata: dict[str, Any]) -> None:
            metadata["current_state"] = {
                "stage": stage,
                "step": step,
                "progress": self._progress(metadata),
            }

        self._update(change)

    def save_entity(
        self,
        entity_type: str,
        content: str | bytes | dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Save an entity as ``final/NN_<type>.<ext>`` and record it; returns the file name."""
        validate_run_id(entity_type)  # it becomes part of a file name: same charset rule
        extension = extension_for(content, metadata)
        data = encode(content)
        return self._commit_entity(
            entity_type, extension, metadata, lambda t: atomic_write_bytes(t, data)
        )

    def _commit_entity(
        self,
        entity_type: str,
        extension: str,
        metadata: dict[str, Any] | None,
        write: Callable[[Path], object],
    ) -> str:
        def change(run_metadata: dict[str, Any]) -> str:
            make_dirs(self.final_folder)
            sequence = _highest_number(self.final_folder, run_metadata["entities"]) + 1
            filename = f"{sequence:02d}_{entity_type}.{extension}"
            write(self.final_folder / filename)
            run_metadata["entities"].append(
                {
                    "sequence": sequence,
                    "type": entity_type,
                    "filename": filename,
                    "timestamp": _now(),
                    "metadata": metadata or {},
                }
            )
            state = run_metadata.setdefault("current_state", {})
            if isinstance(state, dict):
                state["progress"] = self._progress(run_metadata)
            return filename

        return self._update(change)

    def save_to_prompting_process(
        self,
        entity_type: str,
        content: str | bytes | dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Save a research copy as ``prompting_process/NNN_<type>.<ext>``; bytes are ``.bin``."""
        validate_run_id(entity_type)
        extension = "bin" if isinstance(content, bytes) else extension_for(content, None)
        data = encode(content)

        def change(run_metadata: dict[str, Any]) -> str:
            records = run_metadata.setdefault("prompting_process", [])
            make_dirs(self.prompting_folder)
            sequence = _highest_number(self.prompting_folder, records) + 1
            filename = f"{sequence:03d}_{entity_type}.{extension}"
            atomic_write_bytes(self.prompting_folder / filename, data)
            records.append(
                {
                    "sequence": sequence,
                    "type": entity_type,
                    "filename": f"{PROMPTING_FOLDER}/{filename}",
                    "timestamp": _now(),
                    "metadata": metadata or {},
                }
            )
            return filename

        return self._update(change)

    def save_error(
        self, stage: int, error_type: str, message: str, details: dict[str, Any] | None = None
    ) -> str:
        """Save an ``error`` entity (JSON) describing a failed stage."""
        error = {
            "stage": stage,
            "error_type": error_type,
            "message": message,
            "timestamp": _now(),
            "details": details or {},
        }
        return self.save_entity("error", error, {"stage": stage, "error_type": error_type})

    def get_status(self) -> dict[str, Any]:
        """Current state for the frontend, read fresh from disk."""
        metadata = self.refresh()
        entities = [e for e in metadata.get("entities", []) if isinstance(e, dict)]
        completed = [e.get("type") for e in entities]
        next_expected = next((t for t in self.expected_outputs if t not in completed), None)
        return {
            "run_id": self.run_id,
            "current_state": metadata.get(
                "current_state", {"stage": 0, "step": "unknown", "progress": "0/0"}
            ),
            "expected_outputs": self.expected_outputs,
            "completed_outputs": completed,
            "next_expected": next_expected,
            "entities": entities,
        }

    def get_entity_path(self, entity_type: str) -> Path | None:
        """Path of the first entity of *entity_type* (``final/`` or the run folder), or None."""
        for entity in self.refresh().get("entities", []):
            if isinstance(entity, dict) and entity.get("type") == entity_type:
                name = str(entity.get("filename", ""))
                for folder in (self.final_folder, self.run_folder):
                    if (folder / name).is_file():
                        return folder / name
                return self.final_folder / name
        return None

    def save_prompt_id(self, prompt_id: str, media_type: str = "image") -> None:
        """Remember a ComfyUI prompt id (the frontend streams progress with it)."""

        def change(metadata: dict[str, Any]) -> None:
            metadata.setdefault("comfyui_prompt_ids", []).append(
                {"prompt_id": prompt_id, "media_type": media_type, "timestamp": _now()}
            )

        self._update(change)

    def mark_complete(self) -> None:
        self.set_state(5, "complete")

    def save_workflow_json(self, workflow: dict[str, Any], entity_type: str = "workflow") -> str:
        """Archive the executed workflow as an entity, for reproducibility."""
        return self.save_entity(
            entity_type,
            workflow,
            {
                "type": "workflow_archive",
                "timestamp": _now(),
                "node_count": len(workflow) if isinstance(workflow, dict) else 0,
            },
        )

    def save_entity_file(
        self,
        entity_type: str,
        source: Path,
        extension: str,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Record a finished, fsynced temp file in ``final/`` as an entity, by rename.

        For downloads: streamed to a temp file first, so memory stays flat and the lock is
        held only for the rename.
        """
        validate_run_id(entity_type)
        checked = _safe_extension(extension) or "bin"
        return self._commit_entity(
            entity_type, checked, metadata, lambda target: os.replace(source, target)
        )

    def download_and_save_from_comfyui(
        self,
        prompt_id: str,
        media_type: str,
        config: str = "",
        seed: int | None = None,
        *,
        client: ComfyUIClient | None = None,
    ) -> str:
        """Save every ComfyUI output of *prompt_id*; returns the first file name.

        Synchronous (``requests``); the webserver's async callers wrap it in
        ``asyncio.to_thread``. :raises ComfyUIError: with the reason; the run is unchanged.
        """
        comfy = client or ComfyUIClient(load_settings().settings.comfyui_url)
        return download_and_save_from_comfyui(
            self, prompt_id, media_type, config, seed, client=comfy
        )[0]

    def download_and_save_from_url(
        self, url: str, media_type: str, config: str = "", seed: int | None = None
    ) -> str:
        """Save the file at *url* as an ``output_<media>`` entity; returns its file name."""
        return download_and_save_from_url(self, url, media_type, config, seed)


_cache: BoundedLRU[tuple[str, str], LivePipelineRecorder] = BoundedLRU(RECORDER_CACHE_SIZE)


def _remember(recorder: LivePipelineRecorder) -> LivePipelineRecorder:
    _cache.put((str(recorder.storage_root.path), recorder.run_id), recorder)
    return recorder


def _cached(store: RunStore, run_id: str) -> LivePipelineRecorder | None:
    return _cache.get((str(store.root.path), run_id))


def get_recorder(
    run_id: str,
    config_name: str | None = None,
    execution_mode: str | None = None,
    safety_level: str | None = None,
    user_id: str = "anonymous",
    device_id: str | None = None,
    base_path: Path | str | None = None,
) -> LivePipelineRecorder:
    """The recorder of *run_id*: from the cache, from disk, or newly created."""
    validate_run_id(run_id)
    store = _store_for(base_path)
    cached = _cached(store, run_id)
    if cached is not None and cached.run_folder.is_dir():
        return cached
    try:
        return _remember(LivePipelineRecorder._from_disk(store, run_id, store.locate(run_id)))
    except RunNotFound:
        pass
    if config_name is None or execution_mode is None or safety_level is None:
        raise ValueError("config_name, execution_mode and safety_level are required for a new run")
    return _remember(
        LivePipelineRecorder(
            run_id,
            config_name,
            execution_mode,
            safety_level,
            user_id=user_id,
            device_id=device_id,
            base_path=store.root.json_dir,
        )
    )


def load_recorder(run_id: str, base_path: Path | str | None = None) -> LivePipelineRecorder | None:
    """The recorder of an existing run, metadata fresh from disk; None if there is none.

    :raises InvalidRunId: for an unsafe id (never turned into a path).
    """
    validate_run_id(run_id)
    store = _store_for(base_path)
    try:
        run_folder = store.locate(run_id)
    except RunNotFound:
        return None
    cached = _cached(store, run_id)
    if cached is not None and cached.run_folder == run_folder:
        cached.refresh()
        return cached
    return _remember(LivePipelineRecorder._from_disk(store, run_id, run_folder))
