"""Run and device ids are client input: only safe single path components pass.

The webserver makes folders from ids a browser sends, and old hosts hold ids of forms no
longer generated, so the rule is a charset and a length, not a list of known shapes.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from ai4artsed_storage._errors import InvalidDeviceId, InvalidRunId

#: Longest accepted id. Real ids stay under 80 characters; 128 leaves room for suffixes
#: while keeping every path well below PATH_MAX.
MAX_ID_LENGTH = 128

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")


def _problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    if not value:
        return "empty"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if not _SAFE_ID.fullmatch(value):
        return "only letters, digits, '-' and '_' are allowed"
    return None


def is_safe_id(value: object) -> bool:
    """True when *value* may name a folder under the storage root."""
    return _problem(value) is None


def validate_run_id(run_id: object) -> str:
    """Return *run_id* unchanged if it is safe.

    :raises InvalidRunId: for anything but letters, digits, ``-`` and ``_`` up to
        :data:`MAX_ID_LENGTH` characters (so ``..``, ``/``, NUL and control characters fail).
    """
    reason = _problem(run_id)
    if reason is not None:
        raise InvalidRunId(run_id, reason)
    assert isinstance(run_id, str)
    return run_id


def validate_device_id(device_id: object) -> str:
    """Return *device_id* unchanged if it is safe.

    :raises InvalidDeviceId: under the same rule as :func:`validate_run_id`.
    """
    reason = _problem(device_id)
    if reason is not None:
        raise InvalidDeviceId(device_id, reason)
    assert isinstance(device_id, str)
    return device_id


def generate_run_id(suffix: str | None = None) -> str:
    """A new, chronologically sortable run id: ``run_<epoch_ms>_<6 hex>[_suffix]``.

    Same form as the webserver's, so ids from either side sort together.
    """
    base = f"run_{time.time_ns() // 1_000_000}_{os.urandom(3).hex()}"
    return validate_run_id(f"{base}_{suffix}" if suffix else base)


def fallback_device_id() -> str:
    """The server-side device folder for requests that sent none (``dev_<12 hex>``)."""
    return f"dev_{uuid.uuid4().hex[:12]}"
