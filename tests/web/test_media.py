"""/api/media over a root holding every layout: the webserver's semantics, and JSON errors."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ai4artsed_storage import RunStore, StorageRoot, StorageSettings
from ai4artsed_storage.web import create_app, init_app
from tests.conftest import png_bytes
from tests.web.conftest import GLB, IMAGES_PER_RUN, LAYOUT_RUNS, MP3, MP4, WAV, MediaRoot


def _latest_image_bytes(media_root: MediaRoot, run_id: str) -> bytes:
    run = RunStore(StorageRoot(media_root.path)).get(run_id)
    path = run.entity_path(run.entities_of("output_image")[-1])
    assert path is not None
    return path.read_bytes()


@pytest.mark.parametrize("layout", list(LAYOUT_RUNS))
def test_image_of_every_layout_is_served(
    client: FlaskClient, media_root: MediaRoot, layout: str
) -> None:
    run_id = LAYOUT_RUNS[layout]

    response = client.get(f"/api/media/image/{run_id}")

    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "image/png"
    assert response.data == _latest_image_bytes(media_root, run_id)
    assert response.headers["ETag"]


@pytest.mark.parametrize("layout", ["D", "canvas"])
def test_image_indexes_count_from_either_end(client: FlaskClient, layout: str) -> None:
    run_id = LAYOUT_RUNS[layout]
    count = IMAGES_PER_RUN[layout]
    by_index = [client.get(f"/api/media/image/{run_id}/{i}").data for i in range(count)]

    assert len(set(by_index)) == count, "each index is a distinct image"
    assert client.get(f"/api/media/image/{run_id}").data == by_index[-1]
    assert client.get(f"/api/media/image/{run_id}/-1").data == by_index[-1]
    assert client.get(f"/api/media/image/{run_id}/-{count}").data == by_index[0]
    for bad in (count, -count - 1, 99):
        response = client.get(f"/api/media/image/{run_id}/{bad}")
        assert response.status_code == 404
        assert "invalid index" in response.get_json()["error"]


def test_image_download_name_and_cache_of_a_finished_run(client: FlaskClient) -> None:
    response = client.get(f"/api/media/image/{LAYOUT_RUNS['D']}/-1")

    assert f"filename={LAYOUT_RUNS['D']}_2.png" in response.headers["Content-Disposition"]
    assert response.cache_control.max_age == 365 * 24 * 3600
    assert response.cache_control.immutable
    assert response.cache_control.public


@pytest.mark.parametrize("run_id", ["run_unfinished", LAYOUT_RUNS["A"]])
def test_unfinished_or_unnumbered_files_are_revalidated(client: FlaskClient, run_id: str) -> None:
    response = client.get(f"/api/media/image/{run_id}")

    assert response.status_code == 200
    assert response.cache_control.no_cache
    assert not response.cache_control.max_age


def test_conditional_get_answers_304(client: FlaskClient) -> None:
    first = client.get(f"/api/media/image/{LAYOUT_RUNS['B']}")
    etag = first.headers["ETag"]

    again = client.get(f"/api/media/image/{LAYOUT_RUNS['B']}", headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.data == b""


def test_images_listing_has_the_webservers_shape(client: FlaskClient) -> None:
    run_id = LAYOUT_RUNS["D"]

    body = client.get(f"/api/media/images/{run_id}").get_json()

    assert body["run_id"] == run_id
    assert body["total_images"] == 3
    first = body["images"][0]
    assert set(first) == {
        "index",
        "filename",
        "url",
        "file_size_bytes",
        "node_id",
        "node_title",
        "file_index",
        "total_files",
        "metadata",
    }
    assert first["url"] == f"/api/media/image/{run_id}/0"
    assert first["filename"] == "03_output_image.png"
    assert first["node_id"] == "9"
    assert first["total_files"] == 3
    for image in body["images"]:
        served = client.get(image["url"])
        assert served.status_code == 200
        assert len(served.data) == image["file_size_bytes"]


def test_images_of_layout_a_plus_b_list_both_kinds(client: FlaskClient) -> None:
    body = client.get(f"/api/media/images/{LAYOUT_RUNS['A+B']}").get_json()

    assert [image["filename"] for image in body["images"]] == [
        "output_image.png",
        "03_output_image.png",
    ]


def test_images_of_canvas_name_their_nodes(client: FlaskClient) -> None:
    body = client.get(f"/api/media/images/{LAYOUT_RUNS['canvas']}").get_json()

    assert [image["node_id"] for image in body["images"]] == ["g0", "g1"]
    assert [image["filename"] for image in body["images"]] == [
        "02_generation.png",
        "03_generation.png",
    ]


def test_images_skip_missing_files_but_keep_indexes(client: FlaskClient) -> None:
    body = client.get("/api/media/images/run_missing_file").get_json()

    assert body["total_images"] == 2
    assert [image["index"] for image in body["images"]] == [0, 2]
    missing = client.get("/api/media/image/run_missing_file/1")
    assert missing.status_code == 404
    assert "not found" in missing.get_json()["error"]


@pytest.mark.parametrize(
    ("route", "run_id", "body", "mimetype"),
    [
        ("audio", "run_media_all", MP3, "audio/mpeg"),
        ("audio", "run_music_only", WAV, "audio/wav"),
        ("music", "run_media_all", WAV, "audio/wav"),
        ("music", "run_legacy_audio", MP3, "audio/mpeg"),
        ("music", "run_audio_as_image", MP3, "audio/mpeg"),
        ("video", "run_media_all", MP4, "video/mp4"),
        ("3d", "run_media_all", GLB, "model/gltf-binary"),
        ("p5", "run_media_all", b"function setup() {}", "text/javascript"),
        ("tonejs", "run_media_all", b"new Tone.Synth()", "text/javascript"),
        ("midi", "run_media_all", b"MThd\x00\x00\x00\x06", "audio/midi"),
        ("sonicpi", "run_media_all", b"play 60", "text/x-ruby"),
    ],
)
def test_single_file_routes_follow_the_fallback_orders(
    client: FlaskClient, route: str, run_id: str, body: bytes, mimetype: str
) -> None:
    response = client.get(f"/api/media/{route}/{run_id}")

    assert response.status_code == 200, response.get_json()
    assert response.data == body
    assert response.mimetype == mimetype


def test_3d_is_an_attachment_and_audio_ignores_its_index(client: FlaskClient) -> None:
    model = client.get("/api/media/3d/run_media_all")
    assert model.headers["Content-Disposition"].startswith("attachment")
    assert client.get("/api/media/audio/run_media_all/7").data == MP3
    assert client.get("/api/media/video/run_media_all/-1").data == MP4


@pytest.mark.parametrize(
    ("route", "run_id"),
    [
        ("audio", "run_audio_as_image"),
        ("video", LAYOUT_RUNS["D"]),
        ("p5", LAYOUT_RUNS["canvas"]),
        ("image", "run_music_only"),
        ("images", "run_music_only"),
    ],
)
def test_no_such_entity_is_a_json_404(client: FlaskClient, route: str, run_id: str) -> None:
    response = client.get(f"/api/media/{route}/{run_id}")

    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]


@pytest.mark.parametrize("layout", [*LAYOUT_RUNS, "media"])
def test_info_answers_for_every_layout(client: FlaskClient, layout: str) -> None:
    run_id = LAYOUT_RUNS.get(layout, "run_media_all")

    response = client.get(f"/api/media/info/{run_id}")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"run_id", "schema", "execution_mode", "timestamp", "outputs"}
    assert body["run_id"] == run_id
    for output in body["outputs"]:
        assert not output["type"].startswith("output_")
        assert output["file_size_bytes"] >= 0


def test_info_of_layout_a_reads_the_old_schema(client: FlaskClient) -> None:
    body = client.get(f"/api/media/info/{LAYOUT_RUNS['A']}").get_json()

    assert body["schema"] == "dada"
    assert body["outputs"] == [
        {
            "type": "image",
            "filename": "output_image.png",
            "backend": "comfyui",
            "config": "sd35",
            "file_size_bytes": len(png_bytes(f"{LAYOUT_RUNS['A']}:0:")),
            "format": "PNG",
            "width": 1,
            "height": 1,
            "duration_seconds": None,
        }
    ]


@pytest.mark.parametrize(
    ("layout", "transformed"),
    [(layout, layout != "canvas") for layout in LAYOUT_RUNS],
)
def test_run_summary_inlines_texts_for_every_layout(
    client: FlaskClient, layout: str, transformed: bool
) -> None:
    response = client.get(f"/api/media/run/{LAYOUT_RUNS[layout]}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["run_id"] == LAYOUT_RUNS[layout]
    assert body["input_text"] == "a cat"
    assert ("transformed_text" in body) == transformed
    if transformed:
        assert body["transformed_text"] == "a dadaist cat"
    assert isinstance(body["entities"], list)


@pytest.mark.parametrize("route", ["image", "images", "audio", "music", "info", "run", "3d"])
@pytest.mark.parametrize("run_id", ["run_0_000000_nope", "run_link"])
def test_unknown_run_is_a_json_404(client: FlaskClient, route: str, run_id: str) -> None:
    response = client.get(f"/api/media/{route}/{run_id}")

    assert response.status_code == 404
    assert "no run" in response.get_json()["error"]


@pytest.mark.parametrize("bad", ["bad.id", "a%20b", "%2e%2e", "x" * 200, "caf%C3%A9", "a%00b"])
@pytest.mark.parametrize("route", ["image", "images", "tonejs", "info", "run"])
def test_malformed_run_id_is_a_json_400(client: FlaskClient, route: str, bad: str) -> None:
    response = client.get(f"/api/media/{route}/{bad}")

    assert response.status_code == 400
    assert "invalid run_id" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/api/media/nothing/here", 404),
        ("GET", "/api/media/image/a/b/c", 404),
        ("GET", "/api/media/image/x/1.5", 404),
        ("POST", f"/api/media/image/{LAYOUT_RUNS['D']}", 405),
        ("GET", "/api/media/upload/image", 405),
        ("GET", "/exports/json/", 404),
        ("DELETE", "/api/health", 405),
    ],
)
def test_routing_errors_under_the_prefixes_are_json(
    client: FlaskClient, method: str, url: str, status: int
) -> None:
    response = client.open(url, method=method)

    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["error"]
    if status == 405:
        assert response.headers["Allow"]


def test_routing_errors_elsewhere_stay_html(client: FlaskClient) -> None:
    response = client.get("/somewhere/else")

    assert response.status_code == 404
    assert not response.is_json


def test_metadata_cannot_point_outside_the_run(client: FlaskClient, media_root: MediaRoot) -> None:
    canary = media_root.canary.read_bytes()
    for index in range(4):
        response = client.get(f"/api/media/image/run_hostile_meta/{index}")
        assert canary not in response.data
        assert response.status_code in (200, 404)
    assert client.get("/api/media/image/run_hostile_meta/0").status_code == 200
    body = client.get("/api/media/images/run_hostile_meta").get_json()
    assert [image["index"] for image in body["images"]] == [0]


def test_x_accel_redirect_mode_lets_nginx_send_the_bytes(media_root: MediaRoot) -> None:
    app = create_app(StorageSettings(storage_root=media_root.path, x_accel_redirect="/_storage/"))
    client = app.test_client()

    response = client.get(f"/api/media/image/{LAYOUT_RUNS['C']}")

    assert response.status_code == 200
    assert response.data == b""
    assert response.mimetype == "image/png"
    target = response.headers["X-Accel-Redirect"]
    assert target == f"/_storage/json/2026-02-19/{LAYOUT_RUNS['C']}/03_output_image.png"
    served = media_root.path / target.removeprefix("/_storage/")
    assert served.read_bytes() == _latest_image_bytes(media_root, LAYOUT_RUNS["C"])
    assert client.get("/api/media/image/run_hostile_meta/3").status_code == 404


def test_gallery_shows_runs_with_image_urls(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"/api/media/image/{LAYOUT_RUNS['D']}/2" in page
    assert f"/api/media/image/{LAYOUT_RUNS['A']}/0" in page
    assert client.get("/gallery").data == response.data


def test_blueprints_mount_on_an_existing_app(media_root: MediaRoot) -> None:
    app = Flask("the_webserver")

    @app.get("/api/other")
    def other() -> str:
        return "theirs"

    init_app(app, StorageSettings(storage_root=media_root.path))
    client = app.test_client()

    assert client.get("/api/other").data == b"theirs"
    assert client.get(f"/api/media/image/{LAYOUT_RUNS['B']}").status_code == 200
    assert client.get("/").status_code == 404  # no gallery unless the app asks for it
