"""Lab stand-in for the webserver backend (`devserver/server.py`), stdlib only.

It keeps the one trait that caused the incident: the exports/ tree is found
from this file's own location, so every checkout has its own tree and two
backends never see each other's images. The media route searches run folders
the way the webserver does (json/<id>, json/<date>/<id>, json/<date>/<device>/<id>)
and, like it, takes images only from the run's final/ folder.

POST /api/lab/save-image?run_id=..&device_id=..[&date=YYYY-MM-DD] stands in for
the pipeline: the body is the PNG "generated" for the run, saved in layout D.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
EXPORTS_DIR = BASE_DIR / "exports"
JSON_STORAGE_DIR = EXPORTS_DIR / "json"

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DATE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IMAGE_ROUTE = re.compile(r"^/api/media/image/([^/]+)(?:/(\d+))?$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_run_dir(run_id: str) -> Path | None:
    direct = JSON_STORAGE_DIR / run_id
    if direct.is_dir():
        return direct
    dates = sorted((d for d in JSON_STORAGE_DIR.iterdir() if DATE_NAME.match(d.name)), reverse=True) if JSON_STORAGE_DIR.is_dir() else []
    for date_dir in dates:
        if (date_dir / run_id).is_dir():
            return date_dir / run_id
        for device_dir in date_dir.iterdir():
            if (device_dir / run_id).is_dir():
                return device_dir / run_id
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "ai4artsed-lab-devserver"

    def _json(self, status: HTTPStatus, doc: dict[str, object]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        match = IMAGE_ROUTE.match(urlsplit(self.path).path)
        if not match or not SAFE_NAME.match(match.group(1)):
            self._json(HTTPStatus.NOT_FOUND, {"error": "Not found"})
            return
        run_id, index = match.group(1), match.group(2)
        run_dir = find_run_dir(run_id)
        if run_dir is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"Run {run_id} not found"})
            return
        try:
            meta = json.loads((run_dir / "metadata.json").read_text())
        except (OSError, ValueError):
            self._json(HTTPStatus.NOT_FOUND, {"error": "No images found"})
            return
        images = sorted(
            (e for e in meta.get("entities", []) if e.get("type") == "output_image"),
            key=lambda e: e.get("sequence", 0),
        )
        if not images or (index is not None and int(index) >= len(images)):
            self._json(HTTPStatus.NOT_FOUND, {"error": "No images found"})
            return
        entity = images[int(index)] if index is not None else images[-1]
        path = run_dir / "final" / entity["filename"]
        if not path.is_file():
            self._json(HTTPStatus.NOT_FOUND, {"error": f"Image file not found: {entity['filename']}"})
            return
        data = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path != "/api/lab/save-image":
            self._json(HTTPStatus.NOT_FOUND, {"error": "Not found"})
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        now = datetime.now(timezone.utc)
        run_id = query.get("run_id", "")
        device_id = query.get("device_id", "")
        day = query.get("date", now.strftime("%Y-%m-%d"))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not (SAFE_NAME.match(run_id) and SAFE_NAME.match(device_id) and DATE_NAME.match(day)):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "run_id, device_id or date malformed"})
            return
        if not body.startswith(PNG_SIGNATURE):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "body is not a PNG"})
            return
        run_dir = JSON_STORAGE_DIR / day / device_id / run_id
        (run_dir / "final").mkdir(parents=True, exist_ok=True)
        (run_dir / "final" / "01_output_image.png").write_bytes(body)
        stamp = f"{day}T{now.strftime('%H:%M:%S.%f')}"
        meta = {
            "run_id": run_id,
            "timestamp": stamp,
            "config_name": "lab_stand_in",
            "device_id": device_id,
            "expected_outputs": ["output_image"],
            "entities": [
                {"sequence": 1, "type": "output_image", "filename": "01_output_image.png",
                 "timestamp": stamp, "metadata": {"format": "png"}},
            ],
        }
        (run_dir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        self._json(HTTPStatus.OK, {"run_id": run_id, "media_url": f"/api/media/image/{run_id}"})


def main() -> int:
    port = int(os.environ.get("PORT", "17802"))
    try:
        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    except OSError as exc:
        # The webserver dies the same way when its port is taken; under
        # Restart=always that becomes the restart loop of the incident.
        print(f"cannot listen on {port}: {exc}", file=sys.stderr)
        return 1
    print(f"backend on {port}, exports at {EXPORTS_DIR}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
