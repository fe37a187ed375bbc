"""ComfyUI downloads against a real HTTP server on 127.0.0.1 playing ComfyUI."""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from ai4artsed_storage import (
    ComfyUIClient,
    ComfyUIError,
    LivePipelineRecorder,
    RetryPolicy,
    open_store,
)
from tests.conftest import png_bytes

PROMPT = "prompt-1234"


@dataclass
class FakeComfy:
    """State of the fake: files by name, and how to misbehave."""

    files: dict[str, bytes] = field(default_factory=dict)
    polls_before_done: int = 0
    history_status: int = 200
    view_status: int = 200
    truncate_view: bool = False
    known: bool = True
    big_file_bytes: int = 0
    requests: list[str] = field(default_factory=list)

    def history(self) -> dict[str, Any]:
        if not self.known or self.polls_before_done > 0:
            self.polls_before_done -= 1
            return {}
        outputs = {
            "9": {
                "images": [
                    {"filename": n, "subfolder": "sub", "type": "output"} for n in self.files
                ]
            }
        }
        return {PROMPT: {"outputs": outputs, "status": {"status_str": "success"}}}

    def queue(self) -> dict[str, Any]:
        pending = [[0, PROMPT, {}]] if self.known and self.polls_before_done >= 0 else []
        return {"queue_running": [], "queue_pending": pending}


def _handler(state: FakeComfy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.requests.append(url.path)
            if url.path == f"/history/{PROMPT}":
                if state.history_status != 200:
                    self._json(state.history_status, {"error": "boom"})
                else:
                    self._json(200, state.history())
            elif url.path.startswith("/history/"):
                self._json(200, {})
            elif url.path == "/queue":
                self._json(200, state.queue())
            elif url.path == "/view":
                name = parse_qs(url.query)["filename"][0]
                if state.view_status != 200:
                    self._json(state.view_status, {"error": "view failed"})
                    return
                if state.big_file_bytes:
                    self._stream_big(state.big_file_bytes)
                    return
                data = state.files[name]
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if state.truncate_view else data)
            else:
                self._json(404, {})

        def _stream_big(self, size: int) -> None:
            head = png_bytes()[:16]
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(head)
            chunk = b"\0" * (1 << 20)
            left = size - len(head)
            while left > 0:
                piece = chunk[: min(left, len(chunk))]
                self.wfile.write(piece)
                left -= len(piece)

    return Handler


@pytest.fixture
def comfy() -> Iterator[tuple[FakeComfy, str]]:
    state = FakeComfy(files={"a.png": png_bytes("a"), "b.png": png_bytes("b")})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(url: str, **kwargs: Any) -> ComfyUIClient:
    return ComfyUIClient(
        url,
        retry=RetryPolicy(read_timeout=5.0, attempts=3, backoff=0.01),
        poll_interval=0.01,
        **kwargs,
    )


def _recorder(root_path: Path) -> LivePipelineRecorder:
    return LivePipelineRecorder("run_1_abcdef", "sd35", "eco", "youth", device_id="dev1")


def _litter(run: LivePipelineRecorder) -> list[str]:
    return sorted(p.name for p in run.final_folder.iterdir() if p.name.startswith("."))


def test_normal_download_saves_every_output(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    recorder = _recorder(root_path)
    first = recorder.download_and_save_from_comfyui(
        PROMPT, "image", "sd35", seed=7, client=_client(url)
    )
    assert first == "01_output_image.png"
    run = open_store().get("run_1_abcdef")
    images = run.entities_of("output_image")
    assert [run.entity_path(e).read_bytes() for e in images] == [
        state.files["a.png"],  # type: ignore[union-attr]
        state.files["b.png"],
    ]
    meta = images[1].metadata
    assert (meta["prompt_id"], meta["node_id"], meta["seed"]) == (PROMPT, "9", 7)
    assert (meta["width"], meta["height"], meta["format"]) == (1, 1, "png")
    assert _litter(recorder) == []


def test_slow_prompt_is_polled_until_done(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.polls_before_done = 5
    recorder = _recorder(root_path)
    recorder.download_and_save_from_comfyui(PROMPT, "image", client=_client(url))
    assert state.requests.count(f"/history/{PROMPT}") >= 6
    assert len(recorder.refresh()["entities"]) == 2


def test_slow_prompt_times_out(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.polls_before_done = 10_000
    recorder = _recorder(root_path)
    with pytest.raises(ComfyUIError, match="not finished within"):
        recorder.download_and_save_from_comfyui(
            PROMPT, "image", client=_client(url, wait_timeout=0.2)
        )
    assert recorder.refresh()["entities"] == []


def test_server_error_is_retried_then_reported(
    root_path: Path, comfy: tuple[FakeComfy, str]
) -> None:
    state, url = comfy
    state.history_status = 500
    recorder = _recorder(root_path)
    with pytest.raises(ComfyUIError, match="HTTP 500"):
        recorder.download_and_save_from_comfyui(PROMPT, "image", client=_client(url))
    assert state.requests.count(f"/history/{PROMPT}") == 3


def test_truncated_body_leaves_nothing(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.truncate_view = True
    recorder = _recorder(root_path)
    with pytest.raises(ComfyUIError, match="download failed"):
        recorder.download_and_save_from_comfyui(PROMPT, "image", client=_client(url))
    assert recorder.refresh()["entities"] == []
    assert list(recorder.final_folder.iterdir()) == []


def test_unknown_prompt(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.known = False
    with pytest.raises(ComfyUIError, match="unknown prompt"):
        _recorder(root_path).download_and_save_from_comfyui(PROMPT, "image", client=_client(url))


def test_second_file_failing_records_none(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.view_status = 404
    recorder = _recorder(root_path)
    with pytest.raises(ComfyUIError, match="HTTP 404"):
        recorder.download_and_save_from_comfyui(PROMPT, "image", client=_client(url))
    assert recorder.refresh()["entities"] == []


def test_50_mb_output_streams_in_flat_memory(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    state.files = {"big.png": b""}
    state.big_file_bytes = 50 * 1024 * 1024
    recorder = _recorder(root_path)
    tracemalloc.start()
    try:
        name = recorder.download_and_save_from_comfyui(PROMPT, "image", client=_client(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (recorder.final_folder / name).stat().st_size == 50 * 1024 * 1024
    # Chunks are 1 MiB; a download held in memory would peak above 50 MiB.
    assert peak < 8 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"


def test_download_from_url(root_path: Path, comfy: tuple[FakeComfy, str]) -> None:
    state, url = comfy
    recorder = _recorder(root_path)
    name = recorder.download_and_save_from_url(f"{url}/view?filename=a.png", "image", "gpt")
    assert (recorder.final_folder / name).read_bytes() == state.files["a.png"]
    entity = recorder.refresh()["entities"][0]
    assert entity["metadata"]["source_url"].endswith("filename=a.png")
