"""The one way every route hands a file to the client.

werkzeug's ``send_file`` gives ETag, Last-Modified, 304, Range (206/416) and HEAD. With the
``x_accel_redirect`` setting, the route still decides what is served (and checks it) but
nginx sends the bytes: Python's per-request cost is what keeps it below nginx's speed.
"""

from __future__ import annotations

import mimetypes
import stat
from pathlib import Path
from urllib.parse import quote

from flask import Response, send_file
from werkzeug.exceptions import NotFound

from ai4artsed_storage.web._context import web_state

#: A year: numbered files of a finished run are never rewritten.
IMMUTABLE_MAX_AGE = 365 * 24 * 3600
_IMMUTABLE = f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"

_MIME_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "mov": "video/quicktime",
    "gltf": "model/gltf+json",
    "glb": "model/gltf-binary",
    "obj": "model/obj",
    "stl": "model/stl",
    "fbx": "application/octet-stream",
    "usd": "model/vnd.usd+zip",
    "usdz": "model/vnd.usdz+zip",
    "mid": "audio/midi",
    "midi": "audio/midi",
    "rb": "text/x-ruby",
    "js": "text/javascript",
    "html": "text/html",
    "txt": "text/plain",
    "json": "application/json",
    "bin": "application/octet-stream",
}


def mime_type(extension: str, default: str | None = None) -> str:
    """The MIME type of a file format or extension (``png``, ``PNG``, ``.js``): ours, else
    *default*, else the system's guess, else ``application/octet-stream``."""
    name = extension.lower().lstrip(".")
    known = _MIME_TYPES.get(name) or default or mimetypes.guess_type(f"file.{name}")[0]
    return known or "application/octet-stream"


def send_stored_file(
    path: Path,
    *,
    mimetype: str | None = None,
    download_name: str | None = None,
    as_attachment: bool = False,
    immutable: bool = False,
    within: Path | None = None,
) -> Response:
    """Answer with the file at *path*, which must really (symlinks resolved) be inside
    *within* (default: the root).

    :raises NotFound: when it is outside, missing, not a regular file or not a path at all
        (a NUL byte).
    """
    state = web_state()
    root = state.store.root
    try:
        real, status = root.contain_with_stat(path, within)
    except (ValueError, OSError):  # UnsafePath is a ValueError; NUL bytes raise one too
        raise NotFound("file not found") from None
    if not stat.S_ISREG(status.st_mode):
        raise NotFound("file not found")
    if mimetype is None:
        mimetype = mime_type(real.suffix)
    accel = state.settings.x_accel_redirect
    if accel:
        response = Response(mimetype=mimetype)
        relative = real.relative_to(root.real_path()).as_posix()
        response.headers["X-Accel-Redirect"] = f"{accel.rstrip('/')}/{quote(relative)}"
        if download_name is not None:
            disposition = "attachment" if as_attachment else "inline"
            response.headers.set("Content-Disposition", disposition, filename=download_name)
    else:
        try:
            response = send_file(
                real,
                mimetype=mimetype,
                as_attachment=as_attachment,
                download_name=download_name,
                conditional=True,
                etag=True,
            )
        except FileNotFoundError:  # removed since the check above
            raise NotFound("file not found") from None
    # One header write: each cache_control attribute set re-parses and re-serialises it.
    response.headers["Cache-Control"] = _IMMUTABLE if immutable else "no-cache"
    return response
