"""Downloads from ComfyUI (and plain URLs) into a run, streamed, bounded, all-or-nothing.

ComfyUI's protocol: ``GET /history/{prompt_id}`` is empty until the prompt finished, then
lists each output node's files; ``GET /queue`` tells a prompt still waiting from one that
ComfyUI never heard of; ``GET /view?filename=&subfolder=&type=`` returns a file's bytes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from PIL import Image, UnidentifiedImageError

from ai4artsed_storage._atomic import make_dirs, temp_file_in
from ai4artsed_storage._errors import ComfyUIError
from ai4artsed_storage._sniff import SNIFF_BYTES, sniff_extension

if TYPE_CHECKING:
    from ai4artsed_storage._recorder import LivePipelineRecorder

#: History keys that hold each media type's files, in the order ComfyUI nodes use them.
OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "image": ("images",),
    "audio": ("audio", "genaudio"),
    "music": ("audio", "genaudio"),
    "video": ("video", "videos", "genvideo", "gifs"),
    "3d": ("3d", "meshes", "glb"),
}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class OutputFile:
    """One file an output node of a finished prompt produced."""

    filename: str
    subfolder: str
    folder_type: str
    node_id: str


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and bounded retries for every request."""

    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    attempts: int = 3
    backoff: float = 0.5


class ComfyUIClient:
    """A small synchronous ComfyUI client on ``requests``.

    :param base_url: e.g. ``http://127.0.0.1:7821``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        poll_interval: float = 1.0,
        wait_timeout: float = 90.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.session = session or requests.Session()

    def _timeout(self) -> tuple[float, float]:
        return (self.retry.connect_timeout, self.retry.read_timeout)

    def _get_json(self, prompt_id: str, path: str) -> Any:
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                response = self.session.get(self.base_url + path, timeout=self._timeout())
                if response.status_code < 500:
                    response.raise_for_status()
                    return response.json()
                last = f"HTTP {response.status_code} from {path}"
            except requests.RequestException as error:
                last = f"{type(error).__name__} on {path}: {error}"
            except ValueError:
                last = f"{path} did not answer JSON"
            time.sleep(self.retry.backoff * (attempt + 1))
        raise ComfyUIError(prompt_id, f"gave up after {self.retry.attempts} attempts: {last}")

    def _is_queued(self, prompt_id: str) -> bool:
        queue = self._get_json(prompt_id, "/queue")
        for key in ("queue_running", "queue_pending"):
            for item in queue.get(key, []) if isinstance(queue, dict) else []:
                if isinstance(item, list | tuple) and prompt_id in item[:3]:
                    return True
        return False

    def wait_for_history(self, prompt_id: str) -> dict[str, Any]:
        """Poll until the prompt's history entry exists.

        :raises ComfyUIError: unknown prompt (neither queued nor finished), failed
            execution, or no result within ``wait_timeout``.
        """
        deadline = time.monotonic() + self.wait_timeout
        while True:
            history = self._get_json(prompt_id, f"/history/{prompt_id}")
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if isinstance(entry, dict):
                status = entry.get("status")
                if isinstance(status, dict) and status.get("status_str") == "error":
                    raise ComfyUIError(prompt_id, "ComfyUI reports the execution failed")
                return entry
            if not self._is_queued(prompt_id):
                # A prompt can leave the queue just before its history appears: ask once more.
                history = self._get_json(prompt_id, f"/history/{prompt_id}")
                entry = history.get(prompt_id) if isinstance(history, dict) else None
                if isinstance(entry, dict):
                    return entry
                raise ComfyUIError(prompt_id, "unknown prompt: neither queued nor in history")
            if time.monotonic() >= deadline:
                raise ComfyUIError(prompt_id, f"not finished within {self.wait_timeout:.0f} s")
            time.sleep(self.poll_interval)

    @staticmethod
    def outputs(entry: dict[str, Any], media_type: str) -> list[OutputFile]:
        """The files of *media_type* in a history entry, in node order."""
        keys = OUTPUT_KEYS.get(media_type)
        if keys is None:
            raise ValueError(f"unsupported media type {media_type!r}")
        files: list[OutputFile] = []
        nodes = entry.get("outputs")
        for node_id, node_output in nodes.items() if isinstance(nodes, dict) else ():
            if not isinstance(node_output, dict):
                continue
            for key in keys:
                for item in node_output.get(key) or []:
                    if isinstance(item, dict) and item.get("filename"):
                        files.append(
                            OutputFile(
                                filename=str(item["filename"]),
                                subfolder=str(item.get("subfolder", "")),
                                folder_type=str(item.get("type", "output")),
                                node_id=str(node_id),
                            )
                        )
                if node_output.get(key):
                    break
        return files

    def download(self, prompt_id: str, url: str, params: dict[str, str], folder: Path) -> Path:
        """Stream *url* into a fsynced temp file in *folder*; the caller renames or removes it.

        Retries a failed or truncated transfer from the start, at most ``attempts`` times.
        """
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                return self._download_once(url, params, folder)
            except requests.HTTPError as error:
                status = error.response.status_code if error.response is not None else 0
                last = f"HTTP {status} for {url}"
                if status < 500:
                    break
            except requests.RequestException as error:
                last = f"{type(error).__name__} for {url}: {error}"
            time.sleep(self.retry.backoff * (attempt + 1))
        raise ComfyUIError(prompt_id, f"download failed: {last}")

    def _download_once(self, url: str, params: dict[str, str], folder: Path) -> Path:
        with (
            self.session.get(url, params=params, stream=True, timeout=self._timeout()) as response,
        ):
            response.raise_for_status()
            expected = response.headers.get("Content-Length")
            with temp_file_in(folder, "download") as (handle, temp):
                size = 0
                for chunk in response.iter_content(chunk_size=_CHUNK):
                    handle.write(chunk)
                    size += len(chunk)
                if expected is not None and expected.isdigit() and size != int(expected):
                    raise requests.exceptions.ChunkedEncodingError(
                        f"truncated body: {size} of {expected} bytes"
                    )
                handle.flush()
                os.fsync(handle.fileno())
            return temp


@contextlib.contextmanager
def _removing(paths: list[Path]) -> Iterator[list[Path]]:
    try:
        yield paths
    finally:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _describe(path: Path, media_type: str) -> tuple[str, dict[str, Any]]:
    with path.open("rb") as handle:
        extension = sniff_extension(handle.read(SNIFF_BYTES)) or "bin"
    details: dict[str, Any] = {"format": extension}
    if media_type == "image":
        try:
            with Image.open(path) as image:
                details["width"], details["height"] = image.size
        except (UnidentifiedImageError, OSError):
            pass
    return extension, details


def download_and_save_from_comfyui(
    recorder: LivePipelineRecorder,
    prompt_id: str,
    media_type: str,
    config: str = "",
    seed: int | None = None,
    *,
    client: ComfyUIClient,
) -> list[str]:
    """Wait for *prompt_id*, download each output, save each as an ``output_<media>`` entity.

    All files are downloaded before any is recorded, so a failure leaves the run as it was.
    Returns the saved file names in ComfyUI's order.

    :raises ComfyUIError: with the reason (unknown prompt, timeout, HTTP error, truncation,
        no files of that type).
    """
    entry = client.wait_for_history(prompt_id)
    files = client.outputs(entry, media_type)
    if not files:
        raise ComfyUIError(prompt_id, f"finished without {media_type} outputs")
    make_dirs(recorder.final_folder)
    with _removing([]) as temps:
        for item in files:
            temps.append(
                client.download(
                    prompt_id,
                    f"{client.base_url}/view",
                    {
                        "filename": item.filename,
                        "subfolder": item.subfolder,
                        "type": item.folder_type,
                    },
                    recorder.final_folder,
                )
            )
        saved: list[str] = []
        for index, (item, temp) in enumerate(zip(files, temps, strict=True)):
            extension, details = _describe(temp, media_type)
            metadata: dict[str, Any] = {
                "config": config,
                "backend": "comfyui",
                "prompt_id": prompt_id,
                "file_index": index,
                "total_files": len(files),
                "node_id": item.node_id,
                **details,
            }
            if seed is not None:
                metadata["seed"] = seed
            saved.append(
                recorder.save_entity_file(f"output_{media_type}", temp, extension, metadata)
            )
        return saved


def download_and_save_from_url(
    recorder: LivePipelineRecorder,
    url: str,
    media_type: str,
    config: str = "",
    seed: int | None = None,
    *,
    client: ComfyUIClient | None = None,
) -> str:
    """Download *url* (streamed, retried) and save it as an ``output_<media>`` entity.

    :raises ComfyUIError: when the download fails; the run is unchanged.
    """
    downloader = client or ComfyUIClient(url)
    make_dirs(recorder.final_folder)
    with _removing([downloader.download(url, url, {}, recorder.final_folder)]) as temps:
        extension, details = _describe(temps[0], media_type)
        metadata: dict[str, Any] = {
            "config": config,
            "backend": "api",
            "source_url": url,
            **details,
        }
        if seed is not None:
            metadata["seed"] = seed
        return recorder.save_entity_file(f"output_{media_type}", temps[0], extension, metadata)
