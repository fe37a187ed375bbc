"""A storage root holding every layout, plus media runs written by the real recorder."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ai4artsed_storage import LivePipelineRecorder, StorageSettings
from ai4artsed_storage.web import create_app, create_waitress_server
from tests.conftest import make_run, png_bytes

#: run_id per layout of tests/conftest.make_run; D and canvas runs carry several images.
LAYOUT_RUNS = {
    "A": "0b8e7a52-6d0f-4e0c-9a37-6f1f3f0d2a11",
    "A-nometa": "1c9f8b63-7e1a-4f1d-8b48-7a2a4a1e3b22",
    "A+B": "2da09c74-8f2b-4a2e-9c59-8b3b5b2f4c33",
    "B": "run_1736000000000_b0b0b0",
    "C": "run_1737100000000_c0c0c0",
    "D": "run_1739974401123_9f3a1c",
    "canvas": "run_1739974402000_ca0ca0_canvas",
}
IMAGES_PER_RUN = {"D": 3, "canvas": 2}
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
GLB = b"glTF\x02\x00\x00\x00" + b"\x00" * 16


@dataclass(frozen=True)
class MediaRoot:
    path: Path
    canary: Path

    @property
    def json_dir(self) -> Path:
        return self.path / "json"

    def recorder(self, run_id: str, device: str = "browser1_2026-02-19") -> LivePipelineRecorder:
        return LivePipelineRecorder(
            run_id, "sd35_large", "eco", "youth", device_id=device, base_path=self.json_dir
        )


def _media_runs(root: MediaRoot) -> None:
    everything = root.recorder("run_media_all")
    everything.save_entity("input", "a song")
    everything.save_entity("output_audio", MP3, {"format": "mp3"})
    everything.save_entity("output_music", WAV, {"format": "wav"})
    everything.save_entity("output_video", MP4, {"format": "mp4"})
    everything.save_entity("output_3d", GLB, {"format": "glb"})
    everything.save_entity("p5", b"function setup() {}", {"format": "js"})
    everything.save_entity("tonejs", b"new Tone.Synth()", {"format": "js"})
    everything.save_entity("midi", b"MThd\x00\x00\x00\x06", {"format": "mid"})
    everything.save_entity("sonicpi", b"play 60", {"format": "rb"})
    everything.mark_complete()

    music_only = root.recorder("run_music_only")
    music_only.save_entity("output_music", WAV, {"format": "wav"})

    legacy_audio = root.recorder("run_legacy_audio")
    legacy_audio.save_entity("audio", MP3, {"format": "mp3"})

    audio_as_image = root.recorder("run_audio_as_image")
    audio_as_image.save_entity("output_image", MP3, {"format": "mp3"})

    unfinished = root.recorder("run_unfinished")
    unfinished.save_entity("output_image", png_bytes("unfinished"), {"format": "png"})

    missing = root.recorder("run_missing_file")
    missing.save_entity("output_image", png_bytes("m0"), {"format": "png"})
    gone = missing.save_entity("output_image", png_bytes("m1"), {"format": "png"})
    missing.save_entity("output_image", png_bytes("m2"), {"format": "png"})
    (missing.final_folder / gone).unlink()

    hostile = root.recorder("run_hostile_meta")
    hostile.save_entity("output_image", png_bytes("h"), {"format": "png"})
    meta_path = hostile.run_folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["entities"].append(
        {"sequence": 90, "type": "output_image", "filename": "../../../../../canary.txt"}
    )
    meta["entities"].append({"sequence": 91, "type": "output_image", "filename": str(root.canary)})
    meta["entities"].append({"sequence": 92, "type": "output_image", "filename": "92_link.png"})
    meta_path.write_text(json.dumps(meta))
    (hostile.final_folder / "92_link.png").symlink_to(root.canary)


def build_media_root(base: Path) -> MediaRoot:
    """Every layout plus media runs under ``base/storage``; a canary file outside the root."""
    canary = base / "canary.txt"
    canary.write_bytes(b"CANARY-outside-the-root")
    root = MediaRoot(base / "storage", canary)
    root.json_dir.mkdir(parents=True)
    for layout, run_id in LAYOUT_RUNS.items():
        make_run(root.json_dir, layout, run_id, images=IMAGES_PER_RUN.get(layout, 1))
    _media_runs(root)
    (root.json_dir / "escape").symlink_to(base)
    # A run folder outside the root, linked in: it must not be found, let alone served.
    outside_run = base / "outside_run"
    outside_run.mkdir()
    (outside_run / "output_image.png").write_bytes(canary.read_bytes())
    (root.json_dir / "run_link").symlink_to(outside_run)
    (root.path / "uploads_tmp").mkdir(exist_ok=True)
    (root.path / "uploads_tmp" / "evil.png").symlink_to(canary)
    return root


@pytest.fixture
def media_root(root_path: Path) -> MediaRoot:
    return build_media_root(root_path.parent)


@pytest.fixture
def app(media_root: MediaRoot) -> Iterator[Flask]:
    application = create_app(StorageSettings(storage_root=media_root.path))
    application.config["TESTING"] = True
    yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server_url(media_root: MediaRoot) -> Iterator[str]:
    """A real waitress server on loopback serving the fixture root, as ``serve`` runs it."""
    app = create_app(StorageSettings(storage_root=media_root.path))
    server = create_waitress_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.task_dispatcher.shutdown()
    server.close()
    thread.join(timeout=5)
