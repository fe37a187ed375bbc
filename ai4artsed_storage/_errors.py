"""The library's exceptions: one base class, a few named cases carrying what they are about."""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base of every error this library raises on purpose."""


class StorageConfigError(StorageError, ValueError):
    """The storage root (or another setting) is unusable; names the value and its source."""

    def __init__(self, message: str, *, value: object = None, source: str | None = None) -> None:
        parts = [message]
        if value is not None:
            parts.append(f"value: {value!s}")
        if source is not None:
            parts.append(f"from: {source}")
        super().__init__("; ".join(parts))
        self.value = value
        self.source = source


class InvalidRunId(StorageError, ValueError):
    """A run_id that is not a safe single path component."""

    def __init__(self, run_id: object, reason: str) -> None:
        super().__init__(f"invalid run_id {run_id!r}: {reason}")
        self.run_id = run_id


class InvalidDeviceId(StorageError, ValueError):
    """A device_id that is not a safe single path component."""

    def __init__(self, device_id: object, reason: str) -> None:
        super().__init__(f"invalid device_id {device_id!r}: {reason}")
        self.device_id = device_id


class UnsafePath(StorageError, ValueError):
    """A path that would resolve outside the directory it must stay in."""

    def __init__(self, path: object, base: Path) -> None:
        super().__init__(f"path {path!s} resolves outside {base}")
        self.path = path
        self.base = base


class RunNotFound(StorageError, LookupError):
    """No run folder with this run_id under the storage root."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} under the storage root")
        self.run_id = run_id


class EntityNotFound(StorageError, LookupError):
    """The run exists but has no such entity, index or file."""

    def __init__(self, run_id: str, what: str) -> None:
        super().__init__(f"run {run_id!r}: {what}")
        self.run_id = run_id
        self.what = what


class InvalidUpload(StorageError, ValueError):
    """An upload refused: too large, not a real image, a type we do not keep, or a reference
    that names no stored upload under the root."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"upload refused: {reason}")
        self.reason = reason


class ComfyUIError(StorageError):
    """ComfyUI did not deliver an output; the reason says why. Nothing half-written remains."""

    def __init__(self, prompt_id: str, reason: str) -> None:
        super().__init__(f"ComfyUI prompt {prompt_id!r}: {reason}")
        self.prompt_id = prompt_id
        self.reason = reason


class InstanceLocked(StorageError):
    """Another backend already holds the storage root's instance lock."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        super().__init__(f"another backend holds {lock_path}: {holder}")
        self.lock_path = lock_path
        self.holder = holder


class MigrationError(StorageError):
    """A migration refused before changing anything (bad source, no space, another migration
    running), naming the path it is about."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(f"{message}: {path}")
        self.path = path
