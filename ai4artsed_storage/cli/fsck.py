"""``fsck``: check the configured storage root; ``--repair`` rebuilds the run index."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ai4artsed_storage._fsck import check
from ai4artsed_storage._store import open_store

EXIT_PROBLEMS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fsck", help="check runs, files and the index of the root")
    parser.add_argument("--repair", action="store_true", help="rebuild the index from the tree")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = check(open_store(), repair=args.repair)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['storage_root']}: {report['runs']} runs, {report['indexed']} indexed")
        for key, value in report.items():
            if isinstance(value, list) and value:
                print(f"{key.replace('_', ' ')}: {len(value)}")
                for item in value:
                    print(f"  {item}")
        print("ok" if report["ok"] else "PROBLEMS FOUND")
    return 0 if report["ok"] else EXIT_PROBLEMS
