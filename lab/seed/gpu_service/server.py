"""Lab stand-in for the shared GPU service (`gpu_service/server.py`, port 17803).

It is a companion, not a backend: it never touches exports/, and a deploy must
leave it running. Only its health route is modelled.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "ai4artsed-lab-gpu-service"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        found = self.path == "/api/health"
        body = json.dumps({"status": "ok", "service": "gpu_service"} if found else {"error": "Not found"}).encode()
        self.send_response(HTTPStatus.OK if found else HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "17803"))), Handler).serve_forever()
