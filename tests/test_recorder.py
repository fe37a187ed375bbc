"""The recorder: the webserver's API and files, written atomically, safe across processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai4artsed_storage import (
    InvalidDeviceId,
    InvalidRunId,
    LivePipelineRecorder,
    StorageConfigError,
    generate_run_id,
    get_recorder,
    load_recorder,
    open_store,
)
from ai4artsed_storage import _recorder as recorder_module
from tests.conftest import make_run, png_bytes

TODAY = datetime.now().strftime("%Y-%m-%d")


def _new(
    run_id: str = "run_1739974401123_9f3a1c", device_id: str | None = "dev-a"
) -> LivePipelineRecorder:
    return LivePipelineRecorder(run_id, "sd35_large", "eco", "youth", device_id=device_id)


def test_new_run_is_layout_d_under_the_configured_root(root_path: Path) -> None:
    recorder = _new()
    assert recorder.run_folder == root_path / "json" / TODAY / "dev-a" / recorder.run_id
    meta = json.loads((recorder.run_folder / "metadata.json").read_text())
    assert meta["config_name"] == "sd35_large"
    assert meta["device_id"] == "dev-a"
    assert meta["entities"] == []
    assert open_store().get(recorder.run_id).layout == "D"


def test_missing_device_id_gets_server_fallback_folder_and_null_in_metadata(
    root_path: Path,
) -> None:
    recorder = _new(device_id=None)
    assert recorder.run_folder.parent.name.startswith("dev_")
    assert len(recorder.run_folder.parent.name) == len("dev_") + 12
    assert recorder.metadata["device_id"] is None


def test_same_place_from_any_working_directory(
    root_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "some" / "checkout"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    recorder = _new()
    assert root_path in recorder.run_folder.parents
    assert not any(elsewhere.iterdir())


def test_base_path_is_the_runs_folder_and_must_be_absolute(tmp_path: Path) -> None:
    base = tmp_path / "other-root" / "json"
    recorder = LivePipelineRecorder("r1", "c", "eco", "kids", device_id="d", base_path=base)
    assert recorder.run_folder.parents[2] == base
    assert (tmp_path / "other-root" / ".ai4artsed" / "index.sqlite3").exists()
    with pytest.raises(StorageConfigError, match="base_path"):
        LivePipelineRecorder("r2", "c", "eco", "kids", base_path="relative/json")


@pytest.mark.parametrize(
    ("content", "metadata", "expected"),
    [
        ({"a": 1}, None, "01_thing.json"),
        ("text", None, "01_thing.txt"),
        (png_bytes(), None, "01_thing.png"),
        (b"\xff\xd8\xff\xe0rest", None, "01_thing.jpg"),
        (b"RIFF\0\0\0\0WEBPVP8 ", None, "01_thing.webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", None, "01_thing.wav"),
        (b"ID3\x04rest", None, "01_thing.mp3"),
        (b"\0\0\0\x18ftypmp42", None, "01_thing.mp4"),
        (b"\x1a\x45\xdf\xa3rest", None, "01_thing.webm"),
        (b"glTF\x02\0\0\0", None, "01_thing.glb"),
        (b"GIF89a...", None, "01_thing.gif"),
        (b"no idea", None, "01_thing.bin"),
        (b"console.log(1)", {"format": "js"}, "01_thing.js"),
        (b"x", {"format": "../../evil"}, "01_thing.bin"),
    ],
)
def test_entity_file_names(
    root_path: Path, content: object, metadata: dict[str, str] | None, expected: str
) -> None:
    recorder = _new()
    assert recorder.save_entity("thing", content, metadata) == expected  # type: ignore[arg-type]
    assert (recorder.final_folder / expected).exists()


def test_full_webserver_api(root_path: Path) -> None:
    recorder = _new()
    recorder.set_state(1, "translation")
    recorder.save_entity("input", "a cat")
    recorder.save_to_prompting_process("interception", "try 1")
    recorder.save_to_prompting_process("interception", b"\x00binary")
    recorder.save_prompt_id("p-1", "image")
    recorder.save_entity("output_image", png_bytes(), {"format": "png", "seed": 1})
    recorder.save_error(3, "safety_blocked", "blocked", {"why": "test"})
    recorder.save_workflow_json({"1": {}, "2": {}})
    recorder.mark_complete()

    status = recorder.get_status()
    assert status["completed_outputs"] == ["input", "output_image", "error", "workflow"]
    assert status["next_expected"] == "translation"
    assert status["current_state"] == {"stage": 5, "step": "complete", "progress": "4/6"}
    assert recorder.get_entity_path("output_image") == recorder.final_folder / "02_output_image.png"
    assert recorder.get_entity_path("missing") is None
    meta = recorder.metadata
    assert [p["filename"] for p in meta["prompting_process"]] == [
        "prompting_process/001_interception.txt",
        "prompting_process/002_interception.bin",
    ]
    assert meta["comfyui_prompt_ids"][0]["prompt_id"] == "p-1"
    assert meta["entities"][3]["metadata"]["node_count"] == 2


def test_unknown_keys_survive_a_rewrite(root_path: Path) -> None:
    folder = make_run(root_path / "json", "D", "keeper")
    recorder = load_recorder("keeper")
    assert recorder is not None
    recorder.save_entity("output_image", png_bytes("new"))
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["future_key"] == [1, 2, 3]
    assert [e["sequence"] for e in meta["entities"]] == [1, 2, 3, 4]


def test_loading_a_b_run_creates_nothing(root_path: Path) -> None:
    folder = make_run(root_path / "json", "B", "old_b")
    before = sorted(p.name for p in folder.iterdir())
    recorder = load_recorder("old_b")
    assert recorder is not None and recorder.config_name == "sd35_large"
    assert sorted(p.name for p in folder.iterdir()) == before


def test_load_recorder_unknown_and_hostile(root_path: Path) -> None:
    assert load_recorder("nobody") is None
    with pytest.raises(InvalidRunId):
        load_recorder("../etc")


def test_get_recorder_creates_then_reuses_and_cache_is_bounded(
    root_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module._cache, "size", 3)
    with pytest.raises(ValueError, match="required"):
        get_recorder("fresh")
    first = get_recorder("fresh", "c", "eco", "kids", device_id="d")
    assert get_recorder("fresh") is first
    for index in range(5):
        get_recorder(f"other{index}", "c", "eco", "kids", device_id="d")
    assert len(recorder_module._cache) == 3
    # Evicted from the cache, still found on disk.
    assert get_recorder("fresh").run_folder == first.run_folder


def test_cached_recorder_sees_another_process_writes(root_path: Path) -> None:
    mine = get_recorder("shared", "c", "eco", "kids", device_id="d")
    script = (
        "from ai4artsed_storage import load_recorder\n"
        "load_recorder('shared').save_entity('input', 'hi')"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    mine.save_entity("output_image", png_bytes())
    assert [(e["sequence"], e["type"]) for e in mine.metadata["entities"]] == [
        (1, "input"),
        (2, "output_image"),
    ]


def test_generate_run_id_form() -> None:
    run_id = generate_run_id("canvas")
    parts = run_id.split("_")
    assert parts[0] == "run" and parts[1].isdigit() and len(parts[2]) == 6 and parts[3] == "canvas"
    assert generate_run_id() != generate_run_id()


def test_bad_ids_are_refused_before_any_write(root_path: Path) -> None:
    with pytest.raises(InvalidRunId):
        _new(run_id="../x")
    with pytest.raises(InvalidDeviceId):
        _new(device_id="a/b")
    recorder = _new()
    with pytest.raises(InvalidRunId):
        recorder.save_entity("../../escape", "x")
    assert not (root_path / "json" / "escape.txt").exists()


_hostile = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["..", ".", "/", "a/../../b", "\x00", "a\nb", "~root", "%2e%2e", "C:\\x"]),
    st.text(alphabet="./\\\x00-_aZ9", max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(run_id=_hostile, device_id=_hostile, entity_type=_hostile)
def test_hostile_names_never_leave_the_root(
    tmp_path_factory: pytest.TempPathFactory, run_id: str, device_id: str, entity_type: str
) -> None:
    outer = tmp_path_factory.mktemp("hostile")
    base = outer / "root" / "json"
    real_root = base.parent.resolve()
    try:
        recorder = LivePipelineRecorder(
            run_id, "c", "eco", "kids", device_id=device_id or None, base_path=base
        )
        recorder.save_entity(entity_type, "x")
    except (InvalidRunId, InvalidDeviceId):
        pass
    for path in outer.rglob("*"):
        assert path.resolve().is_relative_to(real_root), path


_WRITER = textwrap.dedent(
    """
    import sys
    from ai4artsed_storage import get_recorder
    worker, count = sys.argv[1], int(sys.argv[2])
    recorder = get_recorder("run_shared_1", "c", "eco", "kids", device_id="dev")
    for index in range(count):
        data = f"{worker}-{index}".encode() + b"\\x89PNG"
        recorder.save_entity("output_image", data, {"format": "png"})
    """
)
_READER = textwrap.dedent(
    """
    import json, pathlib, sys, time
    path = pathlib.Path(sys.argv[1])
    reads = bad = 0
    stop = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < stop:
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            continue
        reads += 1
        try:
            json.loads(text)
        except ValueError:
            bad += 1
    print(reads, bad)
    """
)


@pytest.mark.slow
def test_eight_processes_fifty_entities_each_while_a_reader_reads(root_path: Path) -> None:
    recorder = get_recorder("run_shared_1", "c", "eco", "kids", device_id="dev")
    env = {**os.environ}
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(recorder.run_folder / "metadata.json"), "8"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(w), "50"], env=env) for w in range(8)
    ]
    assert [w.wait(timeout=240) for w in writers] == [0] * 8
    reads, bad = map(int, reader.communicate(timeout=60)[0].split())

    meta = json.loads((recorder.run_folder / "metadata.json").read_text())
    sequences = [e["sequence"] for e in meta["entities"]]
    assert len(sequences) == 400
    assert sorted(sequences) == list(range(1, 401))
    contents = {(recorder.final_folder / e["filename"]).read_bytes() for e in meta["entities"]}
    assert len(contents) == 400
    assert reads > 100 and bad == 0, f"{bad} of {reads} reads saw partial JSON"


_KILLABLE = textwrap.dedent(
    """
    import itertools
    from ai4artsed_storage import get_recorder
    recorder = get_recorder("run_killed_1", "c", "eco", "kids", device_id="dev")
    for index in itertools.count():
        recorder.save_entity("output_image", b"\\x89PNG" + bytes(64 * 1024), {"format": "png"})
        recorder.save_to_prompting_process("interception", "x" * 1000)
    """
)


@pytest.mark.slow
def test_kill_minus_nine_mid_write_never_corrupts(root_path: Path) -> None:
    rng = random.Random(1234)
    store = open_store()
    for _trial in range(12):
        writer = subprocess.Popen([sys.executable, "-c", _KILLABLE])
        time.sleep(0.4 + rng.random() * 0.6)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        run = store.get("run_killed_1")
        assert run.metadata_state == "ok"
        recorded = [e for e in run.entities if e.recorded]
        assert recorded, "the writer made no progress"
        for entity in run.entities:
            assert not entity.filename.startswith("."), "temp file taken for an entity"
            assert run.entity_path(entity) is not None, entity.filename
        sequences = [e.sequence for e in recorded]
        assert len(sequences) == len(set(sequences))
    # After the crashes a normal writer still continues the numbering without collisions.
    survivor = load_recorder("run_killed_1")
    assert survivor is not None
    name = survivor.save_entity("output_image", png_bytes())
    numbers = [
        int(p.name.split("_")[0]) for p in survivor.final_folder.iterdir() if p.name[0].isdigit()
    ]
    assert int(name.split("_")[0]) == max(numbers)
    assert len(numbers) == len(set(numbers))


_CREATOR = textwrap.dedent(
    """
    import sys
    from ai4artsed_storage import LivePipelineRecorder
    worker = sys.argv[1]
    for index in range(40):
        LivePipelineRecorder(f"run_{worker}_{index}", "c", "eco", "kids", device_id=f"d{worker}")
    """
)


@pytest.mark.slow
def test_index_stays_exact_when_processes_create_runs_at_once(root_path: Path) -> None:
    creators = [subprocess.Popen([sys.executable, "-c", _CREATOR, str(w)]) for w in range(6)]
    assert [c.wait(timeout=120) for c in creators] == [0] * 6
    store = open_store()
    indexed = dict(store.index.items())
    assert len(indexed) == 240
    for run_id, relpath in indexed.items():
        worker = run_id.split("_")[1]
        assert relpath == f"{TODAY}/d{worker}/{run_id}"
        assert (store.root.json_dir / relpath / "metadata.json").is_file()
