"""POST /upload/image, the upload and mask routes, and resolve_upload() for the pipeline."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from ai4artsed_storage import InvalidUpload, StorageRoot, StorageSettings, resolve_upload
from ai4artsed_storage.web import create_app
from tests.web.conftest import MediaRoot


def _image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    color = {"RGBA": (200, 10, 10, 0), "L": 0}.get(mode, (200, 10, 10))
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def _upload(client: FlaskClient, data: bytes, name: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/media/upload/image",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    body = response.get_json()
    assert isinstance(body, dict)
    return response.status_code, body


@pytest.mark.parametrize(
    ("fmt", "name", "stored_suffix"),
    [("PNG", "cat.png", ".png"), ("JPEG", "cat.JPG", ".png"), ("WEBP", "cat.webp", ".webp")],
)
def test_upload_is_stored_under_the_root_and_served(
    client: FlaskClient, media_root: MediaRoot, fmt: str, name: str, stored_suffix: str
) -> None:
    status, body = _upload(client, _image_bytes(fmt), name)

    assert status == 200, body
    path = Path(str(body["image_path"]))
    assert path.is_absolute()
    assert path.parent == media_root.path / "uploads_tmp"
    assert path.suffix == stored_suffix
    assert body["filename"] == path.name
    assert body["original_filename"] == name
    assert body["original_size"] == [64, 48]
    assert body["file_size_bytes"] == path.stat().st_size
    assert Image.open(path).size == (64, 48)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temp left"
    served = client.get(f"/api/media/uploads/{body['image_id']}")
    assert served.status_code == 200
    assert served.data == path.read_bytes()
    root = StorageRoot(media_root.path)
    assert resolve_upload(str(body["image_id"]), root) == path
    assert resolve_upload(str(path), root) == path


def test_upload_is_flattened_and_downscaled(client: FlaskClient) -> None:
    status, body = _upload(client, _image_bytes("PNG", (3000, 1000), "RGBA"), "wide.png")

    assert status == 200, body
    assert body["resized_size"] == [2048, 683]
    stored = Image.open(str(body["image_path"]))
    assert stored.mode == "RGB"
    assert stored.getpixel((0, 0)) == (255, 255, 255), "transparent became white"


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"not an image at all", "fake.png", "not a readable image"),
        (_image_bytes("GIF"), "anim.gif", "file type"),
        (_image_bytes("GIF"), "anim.png", "content is GIF"),
        (_image_bytes("PNG")[:40], "cut.png", "not a readable image"),
        (_image_bytes("PNG"), "noextension", "file type"),
    ],
)
def test_bad_uploads_are_a_json_400(
    client: FlaskClient, media_root: MediaRoot, data: bytes, name: str, reason: str
) -> None:
    status, body = _upload(client, data, name)

    assert status == 400
    assert reason in str(body["error"])
    assert list((media_root.path / "uploads_tmp").glob("*-*")) == []


def test_upload_without_file_is_a_400(client: FlaskClient) -> None:
    response = client.post("/api/media/upload/image", data={}, content_type="multipart/form-data")

    assert response.status_code == 400
    assert "no file" in response.get_json()["error"]


def test_upload_over_the_limit_is_refused(media_root: MediaRoot) -> None:
    app = create_app(StorageSettings(storage_root=media_root.path, upload_max_bytes=2000))
    client = app.test_client()
    noisy = Image.frombytes("RGB", (40, 40), random.Random(7).randbytes(40 * 40 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    over_limit = buffer.getvalue()
    assert 2000 < len(over_limit) < 2000 + 64 * 1024, "over the limit, within the envelope"

    status, body = _upload(client, over_limit, "big.png")
    assert status == 400
    assert "over the limit" in str(body["error"])

    huge = client.post(
        "/api/media/upload/image",
        data={"file": (io.BytesIO(b"\0" * 200_000), "huge.png")},
        content_type="multipart/form-data",
    )
    assert huge.status_code == 413
    assert huge.is_json


def test_decompression_bomb_is_refused(client: FlaskClient) -> None:
    status, body = _upload(client, _image_bytes("PNG", (9000, 9000), "L"), "bomb.png")

    assert status == 400
    assert "too large to decode" in str(body["error"])


def test_masks_and_missing_uploads(client: FlaskClient, media_root: MediaRoot) -> None:
    masks = media_root.path / "uploads_tmp" / "masks"
    masks.mkdir()
    (masks / "abc123_mask.png").write_bytes(_image_bytes("PNG"))

    assert client.get("/api/media/masks/abc123").data == _image_bytes("PNG")
    assert client.get("/api/media/masks/nope").status_code == 404
    assert client.get("/api/media/uploads/nope").status_code == 404
    assert client.get("/api/media/uploads/..%2fjson").status_code == 404
    evil = client.get("/api/media/uploads/evil")  # uploads_tmp/evil.png -> the canary
    assert evil.status_code == 404
    assert media_root.canary.read_bytes() not in evil.data


def test_resolve_upload_maps_old_exports_paths(media_root: MediaRoot, tmp_path: Path) -> None:
    root = StorageRoot(media_root.path)
    stored = media_root.path / "uploads_tmp" / "0f0f.png"
    stored.write_bytes(_image_bytes("PNG"))
    (media_root.path / "uploads_tmp" / "masks").mkdir()
    (media_root.path / "uploads_tmp" / "masks" / "0f0f_mask.png").write_bytes(b"m")

    old = "/opt/ai4artsed-production/exports/uploads_tmp/0f0f.png"
    assert resolve_upload(old, root) == stored.resolve()
    old_mask = "/home/x/ai4artsed_webserver/exports/uploads_tmp/masks/0f0f_mask.png"
    assert resolve_upload(old_mask, root).name == "0f0f_mask.png"


def test_resolve_upload_uses_the_configured_root(
    media_root: MediaRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", str(media_root.path))
    stored = media_root.path / "uploads_tmp" / "abcd.webp"
    stored.write_bytes(b"x")

    assert resolve_upload("abcd") == stored.resolve()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "nope",
        "/etc/passwd",
        "relative/uploads_tmp/x.png",
        "../uploads_tmp/x.png",
        "/opt/exports/uploads_tmp/../../../etc/passwd",
        "/opt/exports/uploads_tmp/evil.png",
        "/x/exports/uploads_tmp",
        "evil",
        "a\x00b",
    ],
)
def test_resolve_upload_refuses_everything_else(media_root: MediaRoot, value: str) -> None:
    root = StorageRoot(media_root.path)

    with pytest.raises(InvalidUpload):
        resolve_upload(value, root)


def test_resolve_upload_refuses_root_paths_leading_out(media_root: MediaRoot) -> None:
    root = StorageRoot(media_root.path)
    for value in (
        str(media_root.path / "uploads_tmp" / "evil.png"),
        str(media_root.path / "uploads_tmp" / ".." / "json" / "escape" / "canary.txt"),
        str(media_root.canary),
    ):
        with pytest.raises(InvalidUpload):
            resolve_upload(value, root)
