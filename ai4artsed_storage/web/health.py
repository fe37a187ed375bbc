"""``GET /api/health``: which backend answered, and on which root.

Deploy and verify call it through every port and the public name: one instance_id and one
(root device, root inode) everywhere proves one backend on one tree.
"""

from __future__ import annotations

import os
import sqlite3
from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, Response, jsonify, request

from ai4artsed_storage.web._context import web_state

health_bp = Blueprint("health", __name__)

DISTRIBUTION = "ai4artsed-storage"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


@health_bp.get("/api/health")
def health() -> tuple[Response, int]:
    state = web_state()
    instance = state.instance
    root = state.store.root.path
    body: dict[str, object] = {
        "status": "ok",
        "instance_id": instance.instance_id,
        "pid": os.getpid(),
        "hostname": instance.hostname,
        "port": instance.port or int(request.environ.get("SERVER_PORT") or 0),
        "version": _version(),
        "started_at": instance.started_at,
        "storage_root": str(root),
    }
    try:
        stat = os.stat(root)
        body.update(
            root_device=stat.st_dev,
            root_inode=stat.st_ino,
            writable=os.access(root, os.W_OK | os.X_OK),
            run_count=state.store.count(),
        )
    except (OSError, sqlite3.Error) as error:
        body.update(status="error", error=f"storage root unusable: {error}")
        body.update(root_device=None, root_inode=None, writable=False, run_count=None)
        return jsonify(body), 503
    return jsonify(body), 200
