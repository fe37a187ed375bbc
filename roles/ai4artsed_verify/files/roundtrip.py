"""Upload a fresh image through the backend and fetch it back; print a JSON report.

usage: roundtrip.py --url http://HOST:PORT

The incident in one request pair: a file saved by the backend must be served by
the same backend at once. The image is generated here (unique pixels per call),
so no earlier upload can answer for it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import urllib.request
import uuid
from pathlib import Path

from PIL import Image


def post_multipart(url: str, field: str, filename: str, body: bytes) -> dict[str, object]:
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    payload = head.encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(  # noqa: S310 (loopback URL from the role)
        url, data=payload, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.load(answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    image = Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    saved = post_multipart(
        f"{args.url}/api/media/upload/image", "file", "verify.png", buffer.getvalue()
    )
    served_url = f"{args.url}/api/media/uploads/{saved['image_id']}"
    with urllib.request.urlopen(served_url, timeout=30) as answer:  # noqa: S310
        served = answer.read()
    stored = Path(str(saved["image_path"])).read_bytes()
    print(
        json.dumps(
            {
                "image_id": saved["image_id"],
                "image_path": saved["image_path"],
                "same_bytes": served == stored,
            }
        )
    )


if __name__ == "__main__":
    main()
