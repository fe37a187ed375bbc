#!/usr/bin/env python3
"""Write the lab's data trees as the incident host had them (stdlib only).

--production  exports/ of /opt/ai4artsed-production: layouts B, C, D, favorites, uploads
--dev         a dev checkout: its exports/ (A, A+B, B, D, canvas, odd files), the data
              older than exports/ (devserver/pipeline_runs, media_storage/runs), and the
              checkout's folders, owned by --owner like everything it writes
--probes      PNGs outside any tree, for the lab to "generate" new images with

Everything is derived from fixed labels, so two runs write identical bytes and
mtimes: a file is rewritten only when it differs. The last line printed is JSON
with the number of files or attributes fixed, so Ansible can report "changed".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import struct
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path


def png(label: str, size: int = 8) -> bytes:
    """A valid, decodable RGB PNG whose pixels (so bytes) depend on ``label``."""
    digest = hashlib.sha256(label.encode()).digest()
    rows = b""
    for y in range(size):
        row = bytes(digest[(x * 3 + y * 5 + c) % len(digest)] for x in range(size) for c in range(3))
        rows += b"\x00" + row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def epoch(when: str) -> float:
    """Seconds for a naive ISO time read as UTC, so ids and mtimes ignore the host's TZ."""
    return datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()


def fixed_uuid(label: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(label.encode()).digest()[:16], version=4))


def run_ms_id(label: str, when: str, suffix: str = "") -> str:
    epoch_ms = int(epoch(when) * 1000)
    return f"run_{epoch_ms}_{hashlib.sha256(label.encode()).hexdigest()[:6]}{suffix}"


def browser_device(label: str, day: str) -> str:
    return f"{fixed_uuid('browser-' + label)}_{day}"


class Writer:
    """Writes files only when bytes, mode, owner or mtime differ; counts fixes."""

    def __init__(self, owner: str | None) -> None:
        self.fixed = 0
        entry = pwd.getpwnam(owner) if owner else None
        self.ids = (entry.pw_uid, entry.pw_gid) if entry else None

    def _own(self, path: Path) -> None:
        if self.ids is None:
            return
        st = path.lstat()
        if (st.st_uid, st.st_gid) != self.ids:
            os.chown(path, *self.ids)
            self.fixed += 1

    def mkdir(self, path: Path) -> None:
        missing = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            self.fixed += 1
            self._own(directory)

    def file(self, path: Path, data: bytes | str, when: str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.mkdir(path.parent)
        if not path.is_file() or path.read_bytes() != raw:
            path.write_bytes(raw)
            self.fixed += 1
        if path.stat().st_mode & 0o7777 != mode:
            path.chmod(mode)
            self.fixed += 1
        self._own(path)
        stamp = epoch(when)
        if path.stat().st_mtime != stamp:
            os.utime(path, (stamp, stamp))
            self.fixed += 1

    def json(self, path: Path, doc: object, when: str) -> None:
        self.file(path, json.dumps(doc, indent=2) + "\n", when)


def entity_run(
    w: Writer,
    folder: Path,
    run_id: str,
    when: str,
    *,
    device_id: str | None,
    layout: str,
    image_label: str,
    prompt: str,
) -> None:
    """A run in layout B/C (files at the run root) or D (final/ + prompting_process/)."""
    files_dir = folder / "final" if layout == "D" else folder
    entities = [
        {"sequence": 2, "type": "input", "filename": "02_input.txt", "timestamp": when, "metadata": {}},
        {"sequence": 4, "type": "interception", "filename": "04_interception.txt", "timestamp": when, "metadata": {}},
        {
            "sequence": 7,
            "type": "output_image",
            "filename": "07_output_image.png",
            "timestamp": when,
            "metadata": {"format": "png", "seed": 123, "prompt_id": fixed_uuid("prompt-" + run_id), "width": 8, "height": 8},
        },
    ]
    w.file(files_dir / "02_input.txt", prompt, when)
    w.file(files_dir / "04_interception.txt", f"An artistic take on: {prompt}", when)
    w.file(files_dir / "07_output_image.png", png(image_label), when)
    meta: dict[str, object] = {
        "run_id": run_id,
        "timestamp": when,
        "config_name": "sd35_large",
        "execution_mode": "eco",
        "safety_level": "youth",
        "user_id": "anonymous",
        "device_id": device_id,
        "expected_outputs": ["input", "interception", "output_image"],
        "current_state": {"stage": 4, "step": "completed", "progress": "3/3"},
        "entities": entities,
        "models_used": {"stage4_output": "sd35_large"},
    }
    if layout == "D":
        w.file(folder / "prompting_process" / "003_interception.txt", f"thinking about {prompt}", when)
        meta["prompting_process"] = [{"filename": "prompting_process/003_interception.txt", "timestamp": when}]
    w.json(folder / "metadata.json", meta, when)


def layout_a_run(w: Writer, folder: Path, when: str, prompt: str, *, with_metadata: bool) -> None:
    w.file(folder / "input_text.txt", prompt, when)
    w.file(folder / "transformed_text.txt", f"Transformed: {prompt}", when)
    w.file(folder / "output_image.png", png("A-" + folder.name), when)
    if with_metadata:
        w.json(
            folder / "metadata.json",
            {
                "schema": "dada",
                "timestamp": when,
                "input_text": prompt,
                "transformed_text": f"Transformed: {prompt}",
                "outputs": [{"type": "image", "filename": "output_image.png", "format": "png"}],
            },
            when,
        )


def shared_runs(w: Writer, json_dir: Path, side: str) -> None:
    """Runs whose id exists in both trees: one identical copy, one conflicting."""
    day, when = "2026-02-03", "2026-02-03T10:15:00.000000"
    device = browser_device("shared", day)
    same_id = run_ms_id("shared-identical", when)
    entity_run(w, json_dir / day / device / same_id, same_id, when, device_id=device, layout="D",
               image_label="shared-identical", prompt="a lighthouse in fog")
    conflict_id = run_ms_id("shared-conflict", when)
    conflict_when = when if side == "production" else "2026-02-03T10:16:30.000000"
    entity_run(w, json_dir / day / device / conflict_id, conflict_id, conflict_when, device_id=device, layout="D",
               image_label=f"shared-conflict-{side}", prompt=f"a red bicycle ({side} copy)")


def production(w: Writer, exports: Path) -> None:
    w.mkdir(exports.parent / "devserver")
    json_dir = exports / "json"
    when_b = "2026-01-12T09:30:00.000000"
    run_b = fixed_uuid("prod-B")
    entity_run(w, json_dir / run_b, run_b, when_b, device_id=None, layout="B",
               image_label="prod-B", prompt="children drawing a dragon")
    when_c = "2026-01-20T14:05:00.000000"
    run_c = run_ms_id("prod-C", when_c)
    entity_run(w, json_dir / "2026-01-20" / run_c, run_c, when_c, device_id=None, layout="C",
               image_label="prod-C", prompt="a city made of paper")
    for n, (day, device) in enumerate((
        ("2026-02-10", browser_device("prod-1", "2026-02-10")),
        ("2026-02-10", "dev_" + hashlib.sha256(b"prod-fallback").hexdigest()[:12]),
        ("2026-02-11", browser_device("prod-2", "2026-02-11")),
    )):
        when = f"{day}T11:{n:02d}:00.000000"
        run_d = run_ms_id(f"prod-D{n}", when)
        entity_run(w, json_dir / day / device / run_d, run_d, when, device_id=None if device.startswith("dev_") else device,
                   layout="D", image_label=f"prod-D{n}", prompt=f"museum robot number {n}")
    shared_runs(w, json_dir, "production")
    w.json(
        json_dir / "favorites.json",
        {
            "version": "1.0",
            "favorites": [
                {"run_id": run_c, "media_type": "image", "added_at": "2026-01-21T08:00:00", "user_id": "anonymous"},
                {"run_id": run_b, "media_type": "image", "added_at": "2026-01-13T08:00:00", "user_id": "anonymous"},
            ],
        },
        "2026-01-21T08:00:00",
    )
    for label in ("prod-upload-1", "prod-upload-2"):
        w.file(exports / "uploads_tmp" / f"{fixed_uuid(label)}.png", png(label), "2026-02-09T16:00:00")


def dev(w: Writer, checkout: Path) -> None:
    w.mkdir(checkout / "gpu_service")
    exports = checkout / "exports"
    json_dir = exports / "json"
    layout_a_run(w, json_dir / fixed_uuid("dev-A1"), "2025-10-28T10:00:00", "a cat in a space suit", with_metadata=True)
    layout_a_run(w, json_dir / fixed_uuid("dev-A2"), "2025-10-30T12:00:00", "a tree of clocks", with_metadata=False)

    # A+B: the old recorder and the new one wrote into the same folder; the
    # new one wrote metadata.json last.
    when_ab = "2025-11-07T15:20:00.000000"
    run_ab = fixed_uuid("dev-AB")
    layout_a_run(w, json_dir / run_ab, when_ab, "a choir of frogs", with_metadata=False)
    entity_run(w, json_dir / run_ab, run_ab, when_ab, device_id=None, layout="B",
               image_label="dev-AB", prompt="a choir of frogs")

    when_b = "2025-12-02T09:00:00.000000"
    run_b = fixed_uuid("dev-B")
    entity_run(w, json_dir / run_b, run_b, when_b, device_id=None, layout="B",
               image_label="dev-B", prompt="a volcano made of ice cream")

    day = "2026-02-12"
    device = browser_device("dev-1", day)
    when_d = f"{day}T13:45:00.000000"
    run_d = run_ms_id("dev-D", when_d)
    entity_run(w, json_dir / day / device / run_d, run_d, when_d, device_id=device, layout="D",
               image_label="dev-D", prompt="a map of a dream")

    canvas_day = "2026-02-14"
    canvas_device = "canvas_" + hashlib.sha256(b"dev-canvas").hexdigest()[:12]
    canvas_when = f"{canvas_day}T10:30:00.000000"
    canvas_id = run_ms_id("dev-canvas", canvas_when, "_canvas")
    canvas_dir = json_dir / canvas_day / canvas_device / canvas_id
    nodes = [("n3", "Generate A"), ("n5", "Generate B")]
    for seq, (node_id, _) in enumerate(nodes, start=1):
        w.file(canvas_dir / "final" / f"{seq:02d}_generation.png", png(f"canvas-{node_id}"), canvas_when)
    w.json(canvas_dir / "workflow.json", {"nodes": [{"id": n, "type": "image_generation", "title": t} for n, t in nodes],
                                          "edges": [["n1", "n3"], ["n1", "n5"]]}, canvas_when)
    w.json(
        canvas_dir / "metadata.json",
        {
            "type": "canvas_workflow",
            "run_id": canvas_id,
            "timestamp": canvas_when,
            "device_id": None,
            "entities": [
                {"sequence": seq, "node_type": "image_generation", "node_id": node_id, "node_title": title,
                 "filename": f"{seq:02d}_generation.png", "timestamp": canvas_when, "metadata": {"format": "png"}}
                for seq, (node_id, title) in enumerate(nodes, start=1)
            ],
        },
        canvas_when,
    )
    shared_runs(w, json_dir, "dev")

    w.file(exports / "uploads_tmp" / f"{fixed_uuid('dev-upload')}.png", png("dev-upload"), "2026-02-12T13:40:00")
    w.file(exports / "uploads_tmp" / "masks" / f"{fixed_uuid('dev-mask')}.png", png("dev-mask"), "2026-02-12T13:41:00")
    w.json(exports / "pipeline_runs" / "exec_20251105_142233_1a2b3c4d.json",
           {"execution_id": "exec_20251105_142233_1a2b3c4d", "schema": "dada", "input_text": "an old record",
            "status": "completed"}, "2025-11-05T14:22:33")
    session = exports / "html" / "session_anonymous_20251210_101500_5e6f7a8b"
    w.file(session / "index.html", "<html><body><h1>Workshop 10 Dec</h1><img src='media/01.png'></body></html>\n",
           "2025-12-10T10:15:00")
    w.json(session / "metadata.json", {"user": "anonymous", "created": "2025-12-10T10:15:00"}, "2025-12-10T10:15:00")
    w.file(session / "media" / "01.png", png("dev-html-session"), "2025-12-10T10:15:00")
    # Nobody remembers this one; a migration must keep it all the same.
    w.file(exports / "notes_from_workshop.txt", "bring more paper next time\n", "2025-11-20T18:00:00")

    # Data from before exports/ existed (November 2025).
    old = fixed_uuid("dev-pre-exports-pipeline")
    w.file(checkout / "devserver" / "pipeline_runs" / old / "input_text.txt", "an owl reading", "2025-11-02T09:00:00")
    w.file(checkout / "devserver" / "pipeline_runs" / old / "output_image.png", png("pre-pipeline"), "2025-11-02T09:00:00")
    media = fixed_uuid("dev-pre-exports-media")
    w.file(checkout / "media_storage" / "runs" / media / "image.png", png("pre-media"), "2025-11-03T09:00:00")
    w.json(checkout / "media_storage" / "runs" / media / "metadata.json",
           {"run_id": media, "created": "2025-11-03T09:00:00", "media": ["image.png"]}, "2025-11-03T09:00:00")


def probes(w: Writer, dest: Path) -> None:
    for n in range(1, 4):
        w.file(dest / f"probe-{n}.png", png(f"probe-{n}"), "2026-02-20T12:00:00")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--production", type=Path, help="exports/ of the production copy")
    parser.add_argument("--dev", type=Path, help="the dev checkout")
    parser.add_argument("--probes", type=Path, help="folder for the probe images (owned by root)")
    parser.add_argument("--owner", help="user owning the production and dev trees")
    args = parser.parse_args()
    fixed = {}
    for name, plant, target, owner in (
        ("production", production, args.production, args.owner),
        ("dev", dev, args.dev, args.owner),
        ("probes", probes, args.probes, None),
    ):
        if target is not None:
            w = Writer(owner)
            plant(w, target)
            fixed[name] = w.fixed
    print(json.dumps({"fixed": sum(fixed.values()), "by_profile": fixed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
