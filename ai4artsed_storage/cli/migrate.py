"""``migrate``: every old exports/ tree into the storage root, nothing lost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ai4artsed_storage._migrate import migrate

EXIT_OK = 0
#: Finished, but some files could not be migrated (left in place, listed in "errors").
EXIT_PARTIAL = 2

_EPILOG = """\
SRC is [legacy:][LABEL=]PATH. PATH is an exports/ folder, a bare json/ folder, or a
checkout (its exports/ and its pre-exports data). Pre-exports data
(<checkout>/devserver/pipeline_runs, <checkout>/media_storage/runs) beside an exports/
folder, or named with legacy:PATH (a checkout), goes to <root>/legacy/<LABEL>/. LABEL
defaults to the checkout's folder name and names the source under <root>/.conflicts/.

What stays where: with --copy, or when a source is on another filesystem, sources are not
changed. Otherwise files move by verified rename, and a source keeps only what did not move:
files identical to ones already in the root, favorites.json (merged), unreadable files and
symlinks leaving the source (both reported). --retire then renames each fully migrated
source to <src>.migrated-<timestamp>; nothing is ever deleted.

Exit 0: all migrated. 1: refused (bad input, no space), nothing changed. 2: finished with
per-file errors. A rerun finishes an interrupted run and does no work after a complete one.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="migrate old exports/ trees into the storage root",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sources", nargs="+", metavar="SRC")
    parser.add_argument("--to", required=True, type=Path, metavar="ROOT", help="storage root")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--json", action="store_true", help="one JSON summary on stdout")
    parser.add_argument("--owner", metavar="USER:GROUP", help="owner of everything placed")
    parser.add_argument(
        "--retire", action="store_true", help="rename finished sources to <src>.migrated-<ts>"
    )
    parser.add_argument(
        "--copy", action="store_true", help="copy even on the same filesystem (sources intact)"
    )
    parser.set_defaults(func=run)


def _progress(done: int, total: int) -> None:
    print(f"\rmigrating: {done}/{total} files", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    show_progress = not args.json and not args.dry_run and sys.stderr.isatty()
    report = migrate(
        args.sources,
        args.to.absolute(),
        dry_run=args.dry_run,
        owner=args.owner,
        retire=args.retire,
        copy=args.copy,
        progress=_progress if show_progress else None,
    )
    if show_progress:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_human(report)
    return EXIT_PARTIAL if report["errors"] else EXIT_OK


def _print_human(report: dict[str, Any]) -> None:
    plan = report["plan"]
    head = "plan (dry run, nothing changed)" if report["dry_run"] else "migrated"
    print(f"{head} into {report['storage_root']}")
    for source in report["sources"]:
        print(f"  {source['label']}: {source['path']} -> {source['dest']} ({source['mode']})")
    for source in report["skipped_sources"]:
        print(f"  skipped {source['source']}: {source['reason']}")
    print(
        f"runs {report['runs']}, files {report['files']}, bytes {report['bytes']}: "
        f"{plan['copies']} to copy ({plan['bytes_to_copy']} bytes), {plan['renames']} to "
        f"rename ({plan['run_folder_renames']} whole run folders), {plan['deduplicated']} "
        f"identical, {plan['conflicts']} conflicts, {plan['already_migrated']} already done"
    )
    if not report["dry_run"]:
        print(f"copied {report['copied']}, renamed {report['renamed']}")
    for conflict in report["conflicts"]:
        print(
            f"  conflict: {conflict['source']}: {conflict['relpath']} kept at {conflict['kept_at']}"
        )
    for item in report["skipped"]:
        print(f"  left in place: {item['path']}: {item['reason']}")
    for error in report["errors"]:
        print(f"  ERROR {error['path']}: {error['error']}")
    for item in report["retired"]:
        print(f"  retired {item['path']} -> {item['renamed_to']}")
