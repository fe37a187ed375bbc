"""``where``: the storage root in force, where it came from, and its state."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ai4artsed_storage._root import EXPORT_FOLDERS, StorageRoot
from ai4artsed_storage._settings import config_file_path, load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("where", help="print the storage root and where it came from")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def describe() -> dict[str, Any]:
    """Everything ``where`` reports, as plain data."""
    resolved = load_settings()
    root = StorageRoot(resolved.storage_root, source=resolved.root_source)
    exists = root.path.is_dir()
    return {
        "storage_root": str(root.path),
        "source": resolved.root_source,
        "config_file": str(config_file_path()),
        "exists": exists,
        "writable": exists and os.access(root.path, os.W_OK | os.X_OK),
        "folders": {name: str(root.path / name) for name in EXPORT_FOLDERS},
        "state_dir": str(root.state_dir),
    }


def run(args: argparse.Namespace) -> int:
    report = describe()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"storage root: {report['storage_root']}")
    print(f"source:       {report['source']}")
    print(f"config file:  {report['config_file']}")
    state = "missing (created on first use)"
    if report["exists"]:
        state = "writable" if report["writable"] else "NOT writable"
    print(f"state:        {state}")
    return 0
