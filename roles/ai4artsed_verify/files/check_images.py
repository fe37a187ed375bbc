"""Fetch the image of every run in the root through the backend; print a JSON report.

usage: check_images.py --root ROOT --url http://HOST:PORT

A run "has an image" when its latest output_image entity's file exists; the
backend must answer /api/media/image/<run_id> with 200 and exactly that file's
bytes. Runs through the library's public API so every layout counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ai4artsed_storage import open_store


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback URL from the role)
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    store = open_store(args.root)
    checked = 0
    failures: list[dict[str, object]] = []
    for run_id, _folder in store.iter_run_dirs():
        run = store.get(run_id)
        images = run.entities_of("output_image")
        path = run.entity_path(images[-1]) if images else None
        if path is None:
            continue
        checked += 1
        status, body = fetch(f"{args.url}/api/media/image/{urllib.parse.quote(run_id, safe='')}")
        want = hashlib.sha256(path.read_bytes()).hexdigest()
        got = hashlib.sha256(body).hexdigest()
        if status != 200 or got != want:
            failures.append(
                {"run_id": run_id, "status": status, "file": str(path), "same_bytes": got == want}
            )
    print(json.dumps({"checked": checked, "failures": failures}))


if __name__ == "__main__":
    main()
