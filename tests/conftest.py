"""Shared fixtures: a storage root per test in tmp_path, run folders of every layout, the
CLI as a subprocess, and child processes reaped after each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai4artsed_storage import RunStore, StorageRoot
from tests.procs import Children

#: The smallest valid PNG (1x1, RGBA); tests vary a trailing chunk to make bytes distinct.
_PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def png_bytes(tag: str = "") -> bytes:
    """A decodable PNG whose bytes differ per *tag* (a tEXt chunk before IEND)."""
    if not tag:
        return _PNG_1X1
    data = b"Comment\x00" + tag.encode()
    chunk = len(data).to_bytes(4, "big") + b"tEXt" + data
    chunk += zlib.crc32(b"tEXt" + data).to_bytes(4, "big")
    return _PNG_1X1[:-12] + chunk + _PNG_1X1[-12:]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the machine's /etc config or the user's data folder."""
    for name in list(os.environ):
        if name.startswith("AI4ARTSED_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AI4ARTSED_CONFIG", str(tmp_path / "no-config.toml"))
    (tmp_path / "no-config.toml").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    yield


@pytest.fixture
def root_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An absolute storage root, configured through the environment as production does."""
    path = tmp_path / "storage"
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", str(path))
    return path


@pytest.fixture
def store(root_path: Path) -> RunStore:
    return RunStore(StorageRoot(root_path).open())


@pytest.fixture
def children() -> Iterator[Children]:
    """Processes the test starts: none outlives it, whether it passes or fails."""
    started = Children()
    yield started
    started.stop_all()


def cli_argv(*args: str) -> list[str]:
    """The CLI as deploy and the units run it: this interpreter, ``-m ai4artsed_storage``."""
    return [sys.executable, "-m", "ai4artsed_storage", *args]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, check=False)


def cli(*args: str) -> tuple[int, dict[str, Any]]:
    """Run the CLI in a subprocess with --json: its exit code and report (or its stderr)."""
    done = run_cli(*args, "--json")
    report = json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}
    return done.returncode, report


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def make_run(
    json_dir: Path,
    layout: str,
    run_id: str,
    *,
    images: int = 1,
    date: str = "2026-02-19",
    device: str = "5c1e0d7e_2026-02-19",
    tag: str = "",
) -> Path:
    """Write a run as the webserver did in *layout* (A, A+B, B, C, D, canvas, A-nometa).

    Returns the run folder. Image bytes are distinct per (run_id, index, tag).
    """
    stamp = f"{date}T14:13:21.123456"

    def image(index: int) -> bytes:
        return png_bytes(f"{run_id}:{index}:{tag}")

    if layout in ("A", "A-nometa"):
        run = json_dir / run_id
        run.mkdir(parents=True)
        (run / "input_text.txt").write_text("a cat")
        (run / "transformed_text.txt").write_text("a dadaist cat")
        (run / "output_image.png").write_bytes(image(0))
        if layout == "A":
            write_json(
                run / "metadata.json",
                {
                    "run_id": run_id,
                    "user_id": None,
                    "timestamp": stamp,
                    "schema": "dada",
                    "execution_mode": "eco",
                    "input_text": "a cat",
                    "transformed_text": "a dadaist cat",
                    "outputs": [
                        {
                            "type": "image",
                            "filename": "output_image.png",
                            "backend": "comfyui",
                            "config": "sd35",
                            "file_size_bytes": len(image(0)),
                            "format": "PNG",
                            "width": 1,
                            "height": 1,
                            "duration_seconds": None,
                        }
                    ],
                },
            )
        return run
    if layout == "canvas":
        run = json_dir / date / device / run_id
        (run / "final").mkdir(parents=True)
        entities = [
            {
                "sequence": 1,
                "node_id": "n1",
                "node_type": "input",
                "filename": "01_input.txt",
                "timestamp": stamp,
                "metadata": {},
            }
        ]
        (run / "final" / "01_input.txt").write_text("a cat")
        for index in range(images):
            name = f"{index + 2:02d}_generation.png"
            (run / "final" / name).write_bytes(image(index))
            entities.append(
                {
                    "sequence": index + 2,
                    "node_id": f"g{index}",
                    "node_type": "generation",
                    "filename": name,
                    "timestamp": stamp,
                    "metadata": {"format": "png", "width": 1, "height": 1},
                }
            )
        (run / "workflow.json").write_text("{}")
        write_json(
            run / "metadata.json",
            {
                "run_id": run_id,
                "type": "canvas_workflow",
                "timestamp": stamp,
                "device_id": device,
                "user_id": "anonymous",
                "workflow_file": "workflow.json",
                "unknown_key": {"kept": True},
                "entities": entities,
            },
        )
        return run
    if layout in ("B", "A+B"):
        run = json_dir / run_id
    elif layout == "C":
        run = json_dir / date / run_id
    elif layout == "D":
        run = json_dir / date / device / run_id
    else:
        raise ValueError(layout)
    files = run / "final" if layout == "D" else run
    files.mkdir(parents=True)
    entities = [
        {
            "sequence": 1,
            "type": "input",
            "filename": "01_input.txt",
            "timestamp": stamp,
            "metadata": {},
        },
        {
            "sequence": 2,
            "type": "interception",
            "filename": "02_interception.txt",
            "timestamp": stamp,
            "metadata": {},
        },
    ]
    (files / "01_input.txt").write_text("a cat")
    (files / "02_interception.txt").write_text("a dadaist cat")
    for index in range(images):
        sequence = index + 3
        name = f"{sequence:02d}_output_image.png"
        (files / name).write_bytes(image(index))
        entities.append(
            {
                "sequence": sequence,
                "type": "output_image",
                "filename": name,
                "timestamp": stamp,
                "metadata": {"format": "png", "width": 1, "height": 1, "node_id": f"{index + 9}"},
            }
        )
    if layout == "A+B":
        (run / "output_image.png").write_bytes(image(99))
        (run / "input_text.txt").write_text("a cat")
    write_json(
        run / "metadata.json",
        {
            "run_id": run_id,
            "timestamp": stamp,
            "config_name": "sd35_large",
            "execution_mode": "eco",
            "safety_level": "youth",
            "user_id": "anonymous",
            "device_id": None,
            "expected_outputs": ["input", "output_image"],
            "current_state": {"stage": 5, "step": "complete", "progress": "3/6"},
            "entities": entities,
            "future_key": [1, 2, 3],
        },
    )
    return run
