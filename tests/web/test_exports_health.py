"""GET /exports/json/<path> (raw run files, path-safe) and GET /api/health."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ai4artsed_storage import InstanceInfo, StorageSettings
from ai4artsed_storage.web import create_app
from tests.web.conftest import LAYOUT_RUNS, MediaRoot

D_RUN = f"2026-02-19/5c1e0d7e_2026-02-19/{LAYOUT_RUNS['D']}"


@pytest.mark.parametrize(
    ("relpath", "mimetype"),
    [
        (f"{D_RUN}/final/03_output_image.png", "image/png"),
        (f"{D_RUN}/metadata.json", "application/json"),
        (f"{LAYOUT_RUNS['B']}/01_input.txt", "text/plain"),
        (f"{LAYOUT_RUNS['A']}/output_image.png", "image/png"),
    ],
)
def test_raw_run_files_are_served(
    client: FlaskClient, media_root: MediaRoot, relpath: str, mimetype: str
) -> None:
    response = client.get(f"/exports/json/{relpath}")

    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.data == (media_root.json_dir / relpath).read_bytes()


@pytest.mark.parametrize(
    "relpath",
    [
        "../canary.txt",
        "..%2F..%2Fcanary.txt",
        "escape/canary.txt",
        f"{D_RUN}/final",
        f"{D_RUN}/../../../../canary.txt",
        "%2e%2e/%2e%2e/canary.txt",
        "nothing/here.png",
        f"{D_RUN}/.metadata.json.0a0b0c.tmp",
        "/etc/passwd",
        "a%00b/metadata.json",
    ],
)
def test_raw_route_refuses_paths_leading_out(
    client: FlaskClient, media_root: MediaRoot, relpath: str
) -> None:
    (media_root.json_dir / D_RUN / ".metadata.json.0a0b0c.tmp").write_text("half")

    # werkzeug merges "//" by redirecting (308); where it lands must refuse too.
    response = client.get(f"/exports/json/{relpath}", follow_redirects=True)

    assert response.status_code == 404
    assert response.is_json
    assert media_root.canary.read_bytes() not in response.data


def test_health_names_the_instance_and_the_root(media_root: MediaRoot) -> None:
    instance = InstanceInfo.create(17801)
    app = create_app(StorageSettings(storage_root=media_root.path), instance=instance)
    client = app.test_client()

    body = client.get("/api/health").get_json()

    stat = os.stat(media_root.path)
    assert body["status"] == "ok"
    assert body["instance_id"] == instance.instance_id
    assert body["pid"] == os.getpid()
    assert body["port"] == 17801
    assert body["started_at"] == instance.started_at
    assert body["storage_root"] == str(media_root.path)
    assert (body["root_device"], body["root_inode"]) == (stat.st_dev, stat.st_ino)
    assert body["writable"] is True
    assert isinstance(body["run_count"], int)
    assert body["version"] == "0.1.0"


def test_each_app_is_a_new_instance_and_port_comes_from_the_request(
    media_root: MediaRoot,
) -> None:
    settings = StorageSettings(storage_root=media_root.path)
    first = create_app(settings).test_client().get("/api/health").get_json()
    second = create_app(settings).test_client().get("/api/health").get_json()

    assert first["instance_id"] != second["instance_id"]
    assert first["port"] == 80  # the test client's SERVER_PORT


def test_health_reports_an_unusable_root(tmp_path: Path) -> None:
    settings = StorageSettings(storage_root=tmp_path / "doomed")
    client = create_app(settings).test_client()
    (tmp_path / "doomed").rename(tmp_path / "moved-away")

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
