"""``GET /exports/json/<path>``: raw files of the runs folder, as the webserver's static route.

The settings page's session browser builds these URLs from folder listings (``final/``
first, then the run root). The path is client input: joined with werkzeug's ``safe_join``,
then its real path (symlinks resolved) must stay inside ``<root>/json``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from ai4artsed_storage._atomic import is_temp_name
from ai4artsed_storage.web._context import web_state
from ai4artsed_storage.web._send import send_stored_file
from ai4artsed_storage.web.errors import json_errors

exports_bp = Blueprint("exports", __name__, url_prefix="/exports")
json_errors(exports_bp)


@exports_bp.get("/json/<path:relpath>")
def json_file(relpath: str) -> Response:
    root = web_state().store.root
    joined = safe_join(str(root.json_dir), relpath)
    if joined is None or is_temp_name(Path(joined).name):
        raise NotFound("file not found")
    return send_stored_file(Path(joined), within=root.json_dir)
