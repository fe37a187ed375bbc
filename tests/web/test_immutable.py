"""Answers declared immutable are given again without the app, and only while nothing changed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client
from werkzeug.wsgi import FileWrapper

from ai4artsed_storage.web import ImmutableAnswers
from tests.conftest import png_bytes
from tests.web.conftest import MediaRoot

RUN = "run_1739974405555_1a2b3c"


def _age(*paths: Path) -> None:
    then = time.time() - 3600
    for path in paths:
        os.utime(path, (then, then))


class Counted:
    """The library's Flask app behind a fresh ImmutableAnswers, counting what reaches it."""

    def __init__(self, app: Flask) -> None:
        self.calls = 0
        inner: Callable[..., Iterable[bytes]] = app.wsgi_app.app  # type: ignore[attr-defined]

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            self.calls += 1
            return inner(environ, start_response)

        self.client = Client(ImmutableAnswers(counting))


@pytest.fixture
def counted(app: Flask) -> Counted:
    return Counted(app)


@pytest.fixture
def finished(media_root: MediaRoot) -> Path:
    """A finished layout-D run with two images, its files dated an hour back; the image."""
    recorder = media_root.recorder(RUN)
    recorder.save_entity("output_image", png_bytes("first"), {"format": "png"})
    name = recorder.save_entity("output_image", png_bytes("second"), {"format": "png"})
    recorder.mark_complete()
    image = recorder.final_folder / name
    _age(image, image.parent, image.parent.parent)
    return image


def _snapshot(client: Client, url: str, **kwargs: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    response = client.get(url, **kwargs)
    return response.status_code, sorted(response.headers.items()), response.get_data()


def test_a_repeated_request_is_answered_without_the_app_and_identically(
    counted: Counted, finished: Path
) -> None:
    url = f"/api/media/image/{RUN}"
    first = _snapshot(counted.client, url)
    assert first[0] == 200
    assert first[2] == finished.read_bytes()
    again = [_snapshot(counted.client, url) for _ in range(3)]
    assert counted.calls == 1
    assert all(answer == first for answer in again)


@pytest.mark.parametrize(
    "change",
    ["file replaced", "image added", "metadata rewritten", "run moved", "run removed"],
)
def test_any_change_sends_the_request_to_the_app_again(
    counted: Counted, finished: Path, change: str
) -> None:
    url = f"/api/media/image/{RUN}"
    before = _snapshot(counted.client, url)
    run_dir = finished.parent.parent
    if change == "file replaced":
        replacement = finished.with_name(".replacement")
        replacement.write_bytes(png_bytes("third"))  # a new inode, as every recorder write
        os.replace(replacement, finished)
    elif change == "image added":
        (finished.parent / "09_output_image.png").write_bytes(png_bytes("later"))
    elif change == "metadata rewritten":
        replacement = run_dir / ".metadata.tmp"
        replacement.write_bytes((run_dir / "metadata.json").read_bytes())
        os.replace(replacement, run_dir / "metadata.json")
    elif change == "run moved":
        run_dir.rename(run_dir.parent / "elsewhere")
    else:
        for path in sorted(run_dir.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        run_dir.rmdir()

    after = _snapshot(counted.client, url)
    assert counted.calls == 2
    if change == "file replaced":
        assert after[2] == png_bytes("third")
    elif change == "image added":
        assert after[2] == png_bytes("later")
    elif change == "metadata rewritten":
        assert after == before
    else:
        assert after[0] == 404


@pytest.mark.parametrize(
    "headers",
    [{"Range": "bytes=0-9"}, {"If-None-Match": '"x"'}, {"Authorization": "Basic eDp5"}],
)
def test_request_dependent_answers_always_come_from_the_app(
    counted: Counted, finished: Path, headers: dict[str, str]
) -> None:
    url = f"/api/media/image/{RUN}"
    counted.client.get(url)
    counted.client.get(url, headers=headers)
    counted.client.head(url)
    assert counted.calls == 3


def test_fresh_and_unfinished_answers_are_not_kept(counted: Counted, media_root: MediaRoot) -> None:
    recorder = media_root.recorder("run_1739974406666_4d5e6f")
    name = recorder.save_entity("output_image", png_bytes("live"), {"format": "png"})
    url = "/api/media/image/run_1739974406666_4d5e6f"
    counted.client.get(url)
    counted.client.get(url)
    assert counted.calls == 2  # a live run: not immutable
    recorder.mark_complete()
    image = recorder.final_folder / name
    counted.client.get(url)
    counted.client.get(url)
    assert counted.calls == 4  # finished, but written just now
    _age(image, image.parent, image.parent.parent)
    counted.client.get(url)
    counted.client.get(url)
    assert counted.calls == 5


def test_answers_that_vary_or_set_cookies_are_not_kept(tmp_path: Path) -> None:
    image = tmp_path / "image.png"
    image.write_bytes(png_bytes("x"))
    _age(image, tmp_path, tmp_path.parent)
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        calls.append(environ["PATH_INFO"])
        extra = {"/vary": [("Vary", "Origin")], "/cookie": [("Set-Cookie", "a=b")]}
        headers = [("Cache-Control", "public, max-age=9, immutable")]
        start_response("200 OK", headers + extra.get(environ["PATH_INFO"], []))
        return environ.get("wsgi.file_wrapper", FileWrapper)(image.open("rb"))

    client = Client(ImmutableAnswers(app))
    for path in ("/vary", "/cookie", "/plain"):
        for _ in range(2):
            assert client.get(path).get_data() == image.read_bytes()
    assert calls == ["/vary", "/vary", "/cookie", "/cookie", "/plain"]
