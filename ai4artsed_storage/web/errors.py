"""JSON errors ``{"error": ...}``: 400 for bad input, 404 for what is not there.

Blueprint handlers cover errors raised in the blueprint's views; routing errors (no rule
matched, wrong method) never reach a blueprint (Flask's errorhandling docs), so the app gets
one handler too, answering JSON only below the library's URL prefixes.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ai4artsed_storage._errors import (
    EntityNotFound,
    InvalidRunId,
    InvalidUpload,
    RunNotFound,
    UnsafePath,
)

logger = logging.getLogger(__name__)

#: URL prefixes whose routing errors answer JSON (the frontend parses them).
JSON_PREFIXES = ("/api/media/", "/exports/json/", "/api/health")


def _answer(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _bad_input(error: Exception) -> tuple[Response, int]:
    return _answer(400, str(error))


def _not_found(error: Exception) -> tuple[Response, int]:
    # An unsafe path is answered like a missing file: no hint about what lies outside.
    return _answer(404, "not found" if isinstance(error, UnsafePath) else str(error))


def _http(error: HTTPException) -> tuple[Response, int]:
    response, status = _answer(error.code or 500, error.description or error.name)
    # Keep what the status needs besides the body: Content-Range on 416, Allow on 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def _unexpected(error: Exception) -> tuple[Response, int]:
    logger.exception("unexpected error on %s %s", request.method, request.path)
    return _answer(500, "internal error")


def json_errors(blueprint: Blueprint) -> None:
    """Make every error of *blueprint*'s views a JSON answer."""
    for bad_input in (InvalidRunId, InvalidUpload):
        blueprint.register_error_handler(bad_input, _bad_input)
    for missing in (RunNotFound, EntityNotFound, UnsafePath):
        blueprint.register_error_handler(missing, _not_found)
    blueprint.register_error_handler(HTTPException, _http)
    blueprint.register_error_handler(Exception, _unexpected)


def _routing_error(error: HTTPException) -> HTTPException | tuple[Response, int]:
    if request.path.startswith(JSON_PREFIXES):
        return _http(error)
    return error


def json_routing_errors(app: Flask) -> None:
    """Answer unmatched URLs and wrong methods under :data:`JSON_PREFIXES` with JSON."""
    app.register_error_handler(HTTPException, _routing_error)
