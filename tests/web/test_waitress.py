"""The routes under a real waitress server on loopback, spoken to with requests."""

from __future__ import annotations

import io
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ai4artsed_storage import LivePipelineRecorder
from ai4artsed_storage.web import create_waitress_server
from tests.web.conftest import MediaRoot

BIG_RUN = "run_1739974409999_b16b16"
BIG_SIZE = 2 * 1024 * 1024


def _big_png() -> bytes:
    """A 2 MB body behind a PNG signature: the routes never decode what they serve."""
    head = b"\x89PNG\r\n\x1a\n"
    return head + random.Random(2).randbytes(BIG_SIZE - len(head))


@pytest.fixture
def big_image(media_root: MediaRoot) -> Path:
    recorder = LivePipelineRecorder(
        BIG_RUN, "sd35_large", "eco", "youth", device_id="dev1", base_path=media_root.json_dir
    )
    name = recorder.save_entity("output_image", _big_png(), {"format": "png"})
    recorder.mark_complete()
    return recorder.final_folder / name


def test_big_image_whole_and_conditional(server_url: str, big_image: Path) -> None:
    url = f"{server_url}/api/media/image/{BIG_RUN}"

    first = requests.get(url, timeout=10)

    assert first.status_code == 200
    assert first.content == big_image.read_bytes()
    assert int(first.headers["Content-Length"]) == BIG_SIZE
    assert first.headers["Content-Type"] == "image/png"
    assert first.headers["Accept-Ranges"] == "bytes"
    assert "immutable" in first.headers["Cache-Control"]
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    by_etag = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    by_date = requests.get(url, headers={"If-Modified-Since": modified}, timeout=10)
    assert by_date.status_code == 304
    stale = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert requests.get(url, headers={"If-Modified-Since": stale}, timeout=10).status_code == 200
    other = requests.get(url, headers={"If-None-Match": '"not-it"'}, timeout=10)
    assert other.status_code == 200


def test_ranges(server_url: str, big_image: Path) -> None:
    url = f"{server_url}/api/media/image/{BIG_RUN}/0"
    data = big_image.read_bytes()

    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206
    assert part.content == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{BIG_SIZE}"

    tail = requests.get(url, headers={"Range": "bytes=-100"}, timeout=10)
    assert tail.status_code == 206
    assert tail.content == data[-100:]

    beyond = requests.get(url, headers={"Range": f"bytes={BIG_SIZE}-"}, timeout=10)
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{BIG_SIZE}"


def test_head_has_headers_and_no_body(server_url: str, big_image: Path) -> None:
    response = requests.head(f"{server_url}/api/media/image/{BIG_RUN}", timeout=10)

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == BIG_SIZE
    assert response.headers["ETag"]
    assert response.content == b""


def test_errors_over_http_are_json(server_url: str) -> None:
    missing = requests.get(f"{server_url}/api/media/image/run_nope", timeout=10)
    malformed = requests.get(f"{server_url}/api/media/image/a..b", timeout=10)

    assert (missing.status_code, malformed.status_code) == (404, 400)
    assert missing.json()["error"] and malformed.json()["error"]


def test_sendfile_bodies_are_whole_again_and_again_and_survive_a_client_leaving(
    server_url: str, big_image: Path
) -> None:
    then = time.time() - 3600
    for path in (big_image, big_image.parent, big_image.parent.parent):
        os.utime(path, (then, then))  # settled: the repeats are given without the app
    url = f"{server_url}/api/media/image/{BIG_RUN}/0"
    expected = big_image.read_bytes()
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as leaving:
        leaving.sendall(f"GET /api/media/image/{BIG_RUN}/0 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert leaving.recv(4096).startswith(b"HTTP/1.1 200")
    with requests.Session() as session:  # one keep-alive connection, one body after another
        for _ in range(5):
            response = session.get(url, timeout=10)
            assert response.status_code == 200
            assert response.content == expected


def test_a_file_wrapper_over_memory_is_sent_the_stock_way() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory, no file descriptor"))

    server = create_waitress_server(app, host="127.0.0.1", port=0, threads=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.effective_port}/"  # type: ignore[union-attr]
        assert requests.get(url, timeout=10).content == b"in memory, no file descriptor"
    finally:
        server.close()
        thread.join(timeout=5)
