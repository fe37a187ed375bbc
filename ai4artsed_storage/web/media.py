"""``/api/media``: the routes the frontend calls, with the webserver's semantics.

Same URLs, type fallback orders and JSON shapes as the webserver's ``media_routes.py``, but
for runs of every layout (A, A+B, B, C, D, canvas): files are looked up in ``final/`` and
then the run folder, and ``/image/<run_id>/-1`` means the latest image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.exceptions import NotFound

from ai4artsed_storage._errors import EntityNotFound, InvalidUpload
from ai4artsed_storage._runs import _NUMBERED, Entity, Run
from ai4artsed_storage._sniff import AUDIO_EXTENSIONS
from ai4artsed_storage._uploads import mask_file, store_upload, upload_file
from ai4artsed_storage.web._context import web_state
from ai4artsed_storage.web._send import mime_type, send_stored_file
from ai4artsed_storage.web.errors import json_errors

media_bp = Blueprint("media", __name__, url_prefix="/api/media")
json_errors(media_bp)

_SAFE_FORMAT = re.compile(r"[A-Za-z0-9]{1,10}")
#: Room for the multipart envelope around an upload of ``upload_max_bytes``.
_MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class _Kind:
    """A single-file media route: the entity types it tries, first that exists wins."""

    types: tuple[str, ...]
    default_mime: str
    noun: str
    attachment: bool = False
    audio_images: bool = False  # the webserver once saved every output as output_image


_KINDS = {
    "audio": _Kind(("output_audio", "audio", "output_music", "music"), "audio/mpeg", "audio"),
    "music": _Kind(
        ("output_music", "music", "output_audio", "audio"), "audio/mpeg", "music", False, True
    ),
    "video": _Kind(("output_video", "video"), "video/mp4", "video"),
    "3d": _Kind(("output_3d", "3d"), "application/octet-stream", "3D model", attachment=True),
    "midi": _Kind(("output_midi", "midi"), "audio/midi", "MIDI file"),
    "sonicpi": _Kind(("output_sonicpi", "sonicpi"), "text/x-ruby", "Sonic Pi code"),
    "p5": _Kind(("output_p5", "p5"), "text/javascript", "p5.js code"),
    "tonejs": _Kind(("output_tonejs", "tonejs"), "text/javascript", "Tone.js code"),
}
#: Routes that accept ``/<index>`` for symmetry with /image but ignore it, as the webserver.
_INDEX_IGNORED = ("audio", "music", "video")


def _run(run_id: str) -> Run:
    return web_state().store.get(run_id)


def _format(entity: Entity) -> str:
    declared = entity.metadata.get("format")
    if isinstance(declared, str) and _SAFE_FORMAT.fullmatch(declared):
        return declared.lower()
    return entity.extension or "bin"


def _is_finished(run: Run) -> bool:
    state = run.metadata.get("current_state")
    return isinstance(state, dict) and state.get("step") == "complete"


def _serve_entity(
    run: Run, entity: Entity, *, default_mime: str, download_name: str, attachment: bool = False
) -> Response:
    """The one helper behind every file route of a run."""
    path = run.entity_path(entity)
    if path is None:
        raise EntityNotFound(run.run_id, f"file {entity.filename!r} not found")
    fmt = _format(entity)
    return send_stored_file(
        path,
        mimetype=mime_type(fmt, default_mime),
        download_name=download_name,
        as_attachment=attachment,
        immutable=_is_finished(run) and bool(_NUMBERED.fullmatch(path.name)),
    )


def _images(run: Run) -> list[Entity]:
    return run.entities_of("output_image")


@media_bp.get("/image/<run_id>")
@media_bp.get("/image/<run_id>/<int(signed=True):index>")
def image(run_id: str, index: int = -1) -> Response:
    run = _run(run_id)
    images = _images(run)
    if not images:
        raise EntityNotFound(run_id, "no images")
    position = index + len(images) if index < 0 else index
    if not 0 <= position < len(images):
        raise EntityNotFound(run_id, f"invalid index {index}; available: 0-{len(images) - 1}")
    entity = images[position]
    return _serve_entity(
        run,
        entity,
        default_mime="image/png",
        download_name=f"{run_id}_{position}.{_format(entity)}",
    )


@media_bp.get("/images/<run_id>")
def images(run_id: str) -> Response:
    run = _run(run_id)
    entities = _images(run)
    if not entities:
        raise EntityNotFound(run_id, "no images")
    listed: list[dict[str, Any]] = []
    for position, entity in enumerate(entities):
        path = run.entity_path(entity)
        if path is None:  # the webserver skips missing files but keeps the indexes
            continue
        meta = dict(entity.metadata)
        listed.append(
            {
                "index": position,
                "filename": entity.filename,
                "url": url_for("media.image", run_id=run_id, index=position),
                "file_size_bytes": path.stat().st_size,
                "node_id": meta.get("node_id", entity.node_id or "unknown"),
                "node_title": meta.get("node_title", "unknown"),
                "file_index": meta.get("file_index", position),
                "total_files": meta.get("total_files", len(entities)),
                "metadata": meta,
            }
        )
    return jsonify({"run_id": run_id, "total_images": len(listed), "images": listed})


def _pick(run: Run, kind: _Kind) -> Entity | None:
    for entity_type in kind.types:
        found = run.entities_of(entity_type)
        if found:
            return found[-1]
    if kind.audio_images:
        for entity in _images(run):
            if entity.extension in AUDIO_EXTENSIONS:
                return entity
    return None


def _single(name: str, run_id: str, index: int | None = None) -> Response:
    kind = _KINDS[name]
    run = _run(run_id)
    entity = _pick(run, kind)
    if entity is None:
        raise EntityNotFound(run_id, f"no {kind.noun}")
    return _serve_entity(
        run,
        entity,
        default_mime=kind.default_mime,
        download_name=f"{run_id}.{_format(entity)}",
        attachment=kind.attachment,
    )


for _name in _KINDS:
    media_bp.add_url_rule(
        f"/{_name}/<run_id>", endpoint=_name, view_func=_single, defaults={"name": _name}
    )
    if _name in _INDEX_IGNORED:
        media_bp.add_url_rule(
            f"/{_name}/<run_id>/<int(signed=True):index>",
            endpoint=_name,
            view_func=_single,
            defaults={"name": _name},
        )


def _file_size(run: Run, entity: Entity) -> int:
    path = run.entity_path(entity)
    return path.stat().st_size if path is not None else 0


@media_bp.get("/info/<run_id>")
def info(run_id: str) -> Response:
    run = _run(run_id)
    outputs = []
    for entity in sorted(run.entities, key=lambda e: e.sequence):
        if not entity.type.startswith("output_"):
            continue
        meta = entity.metadata
        outputs.append(
            {
                "type": entity.type.removeprefix("output_"),
                "filename": entity.filename,
                "backend": meta.get("backend", "unknown"),
                "config": meta.get("config", ""),
                "file_size_bytes": _file_size(run, entity),
                "format": meta.get("format", ""),
                "width": meta.get("width"),
                "height": meta.get("height"),
                "duration_seconds": meta.get("duration_seconds"),
            }
        )
    return jsonify(
        {
            "run_id": run_id,
            "schema": run.config_name,
            "execution_mode": run.metadata.get("execution_mode", "unknown"),
            "timestamp": run.timestamp,
            "outputs": outputs,
        }
    )


def _text_of(run: Run, entity_type: str, legacy_key: str) -> str | None:
    for entity in run.entities_of(entity_type):
        path = run.entity_path(entity)
        if path is not None:
            return path.read_text(encoding="utf-8", errors="replace")
    legacy = run.metadata.get(legacy_key)  # layout A kept the texts in metadata.json
    return legacy if isinstance(legacy, str) else None


@media_bp.get("/run/<run_id>")
def run_summary(run_id: str) -> Response:
    run = _run(run_id)
    meta = run.metadata
    entities = meta.get("entities")
    result: dict[str, Any] = {
        "run_id": run_id,
        "user_id": meta.get("user_id", "anonymous"),
        "timestamp": run.timestamp,
        "schema": run.config_name,
        "execution_mode": meta.get("execution_mode", "unknown"),
        "current_state": meta.get("current_state", {}),
        "expected_outputs": meta.get("expected_outputs", []),
        "entities": entities if isinstance(entities, list) else [],
    }
    for entity_type, key in (("input", "input_text"), ("interception", "transformed_text")):
        text = _text_of(run, entity_type, key)
        if text is not None:
            result[key] = text
    return jsonify(result)


@media_bp.post("/upload/image")
def upload_image() -> tuple[Response, int]:
    state = web_state()
    limit = state.settings.upload_max_bytes
    # Past this werkzeug stops reading the body (413), chunked or not.
    request.max_content_length = limit + _MULTIPART_OVERHEAD
    upload = request.files.get("file")
    if upload is None:
        raise InvalidUpload("no file part in request")
    if not upload.filename:
        raise InvalidUpload("no file selected")
    data = upload.stream.read(limit + 1)
    stored = store_upload(state.store.root, data, upload.filename, max_bytes=limit)
    return jsonify(
        {
            "success": True,
            "image_id": stored.image_id,
            # The frontend sends this back as input_image; resolve_upload() maps it to the file.
            "image_path": str(stored.path),
            "filename": stored.filename,
            "original_filename": stored.original_filename,
            "original_size": list(stored.original_size),
            "resized_size": list(stored.resized_size),
            "file_size_bytes": stored.file_size_bytes,
            "has_mask": False,
            "mask_url": None,
        }
    ), 200


@media_bp.get("/uploads/<image_id>")
def uploaded_image(image_id: str) -> Response:
    path = upload_file(web_state().store.root, image_id)
    if path is None:
        raise NotFound("image not found")
    return send_stored_file(path, download_name=f"{image_id}{path.suffix}")


@media_bp.get("/masks/<image_id>")
def mask(image_id: str) -> Response:
    path = mask_file(web_state().store.root, image_id)
    if path is None:
        raise NotFound("mask not found")
    return send_stored_file(path, mimetype="image/png", download_name=f"{image_id}_mask.png")
