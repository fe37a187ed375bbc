"""ai4artsed_storage: every file of the ai4artsed webserver under ONE absolute root.

Public API; the implementation modules are private.
"""

from ai4artsed_storage._atomic import atomic_write_bytes, atomic_write_json, fsync_dir
from ai4artsed_storage._comfyui import (
    ComfyUIClient,
    RetryPolicy,
    download_and_save_from_comfyui,
    download_and_save_from_url,
)
from ai4artsed_storage._errors import (
    ComfyUIError,
    EntityNotFound,
    InstanceLocked,
    InvalidDeviceId,
    InvalidRunId,
    InvalidUpload,
    RunNotFound,
    StorageConfigError,
    StorageError,
    UnsafePath,
)
from ai4artsed_storage._guard import InstanceGuard, InstanceInfo
from ai4artsed_storage._ids import (
    generate_run_id,
    is_safe_id,
    validate_device_id,
    validate_run_id,
)
from ai4artsed_storage._recorder import LivePipelineRecorder, get_recorder, load_recorder
from ai4artsed_storage._root import StorageRoot
from ai4artsed_storage._runs import Entity, Run
from ai4artsed_storage._settings import ResolvedSettings, StorageSettings, load_settings
from ai4artsed_storage._store import RunStore, open_store
from ai4artsed_storage._uploads import StoredUpload, resolve_upload, store_upload

__all__ = [
    "ComfyUIClient",
    "ComfyUIError",
    "Entity",
    "EntityNotFound",
    "InstanceGuard",
    "InstanceInfo",
    "InstanceLocked",
    "InvalidDeviceId",
    "InvalidRunId",
    "InvalidUpload",
    "LivePipelineRecorder",
    "ResolvedSettings",
    "RetryPolicy",
    "Run",
    "RunNotFound",
    "RunStore",
    "StorageConfigError",
    "StorageError",
    "StorageRoot",
    "StorageSettings",
    "StoredUpload",
    "UnsafePath",
    "atomic_write_bytes",
    "atomic_write_json",
    "download_and_save_from_comfyui",
    "download_and_save_from_url",
    "fsync_dir",
    "generate_run_id",
    "get_recorder",
    "is_safe_id",
    "load_recorder",
    "load_settings",
    "open_store",
    "resolve_upload",
    "store_upload",
    "validate_device_id",
    "validate_run_id",
]
