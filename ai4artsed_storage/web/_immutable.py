"""Answers the app declared immutable are given again without running the app.

The media routes mark a numbered file of a finished run ``public, immutable`` for a year,
so every browser keeps it that long without asking again. This WSGI middleware keeps the
same answer for the next client: on a plain GET for a URL already answered so, it checks
that the file is the one answered before (same device, inode, size, mtime and ctime, on
the file it just opened) and that its folder and the folder above it are unchanged (a
file added, removed or renamed there, such as a rewritten metadata.json), then sends the
file with the recorded headers. Routing, the run lookup and werkzeug's send_file run on the first
request for a URL, and again after any change.

Anything that could make an answer depend on the request goes to the app: Range and
conditional headers, Authorization, HEAD and other methods. Answers that set a cookie,
carry ``Vary`` or were written within the last two seconds (the kernel's file clock is
coarse) are never kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wsgi import FileWrapper

from ai4artsed_storage._kept import BoundedLRU, Identity, identity, identity_of, settled
from ai4artsed_storage._waitress import WSGIApp

#: Distinct URLs kept (a few hundred bytes each).
KEPT_ANSWERS = 4096
_REQUEST_DEPENDENT = (
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_AUTHORIZATION",
)


@dataclass(frozen=True)
class _Answer:
    status: str
    headers: list[tuple[str, str]]
    path: str
    file: Identity
    folders: tuple[Identity | None, Identity | None]


def _folders_of(path: str) -> tuple[Identity | None, Identity | None]:
    """The identities of the file's folder and of the folder above it."""
    parent = os.path.dirname(path)
    return identity(parent), identity(os.path.dirname(parent))


def _declared_immutable(status: str, headers: list[tuple[str, str]]) -> bool:
    if not status.startswith("200"):
        return False
    names = {name.lower(): value for name, value in headers}
    cache_control = names.get("cache-control", "").lower()
    return (
        "immutable" in cache_control
        and "public" in cache_control
        and "vary" not in names
        and "set-cookie" not in names
    )


class ImmutableAnswers:
    """WSGI middleware around *app*; see the module's description."""

    def __init__(self, app: WSGIApp, *, kept: int = KEPT_ANSWERS) -> None:
        self.app = app
        self._answers: BoundedLRU[str, _Answer] = BoundedLRU(kept)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "GET" or any(
            name in environ for name in _REQUEST_DEPENDENT
        ):
            return self.app(environ, start_response)
        key = f"{environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"
        answer = self._answers.get(key)
        if answer is not None:
            body = self._reopen(answer, environ)
            if body is not None:
                start_response(answer.status, list(answer.headers))
                return body
            self._answers.discard(key)
        return self._ask_app(key, environ, start_response)

    def _reopen(self, answer: _Answer, environ: dict[str, Any]) -> Any:
        """The recorded file, opened, if it and its folders are as they were; else None."""
        try:
            file = open(answer.path, "rb")  # noqa: SIM115  # the server closes it
        except OSError:
            return None
        try:
            unchanged = identity_of(os.fstat(file.fileno())) == answer.file and (
                _folders_of(answer.path) == answer.folders
            )
        except OSError:
            unchanged = False
        if not unchanged:
            file.close()
            return None
        return environ.get("wsgi.file_wrapper", FileWrapper)(file)

    def _ask_app(
        self, key: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        said: list[tuple[str, list[tuple[str, str]]]] = []

        def recording_start_response(status: str, headers: Any, *exc_info: Any) -> Any:
            said.append((status, list(headers)))
            return start_response(status, headers, *exc_info)

        body = self.app(environ, recording_start_response)
        if said and _declared_immutable(*said[-1]):
            self._keep(key, said[-1], body)
        return body

    def _keep(self, key: str, said: tuple[str, list[tuple[str, str]]], body: Any) -> None:
        file = getattr(body, "file", None)
        path = getattr(file, "name", None)
        if file is None or not isinstance(path, str) or not os.path.isabs(path):
            return  # not a whole file on disk: nothing to reopen
        try:
            opened = identity_of(os.fstat(file.fileno()))
        except (OSError, ValueError):
            return
        folders = _folders_of(path)
        if None in folders or not settled((opened, *folders)):
            return
        self._answers.put(key, _Answer(said[0], said[1], path, opened, folders))
