"""``doctor``: this host's backends, companions, units and trees; split-brain exits 1."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ai4artsed_storage._doctor import diagnose

EXIT_SPLIT_BRAIN = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="find every backend, unit, exports/ tree and root on this host"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = diagnose()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_human(report)
    return EXIT_SPLIT_BRAIN if report["split_brain"] else 0


def _print_human(report: dict[str, Any]) -> None:
    print(f"backends (writers): {len(report['backends'])}")
    for b in report["backends"]:
        where = b["storage_root"] or b["exports_dir"] or "?"
        print(f"  pid {b['pid']} ports {b['ports']} unit {b['unit'] or '-'} -> {where}")
        print(f"    {' '.join(b['cmdline'])}")
    print(f"companions (never stopped): {len(report['companions'])}")
    for c in report["companions"]:
        print(f"  {c['name']}: pid {c['pid']} ports {c['ports']}")
    print("units:")
    for u in report["units"]:
        state = f"{u['active_state'] or '?'}/{u['unit_file_state'] or '?'}"
        print(f"  {u['name']} ({u['scope']}, {u['kind']}, {state}) {u['path']}")
    for label, key in (
        ("exports/ trees", "exports_trees"),
        ("pre-exports data", "pre_exports_data"),
        ("storage roots", "storage_roots"),
    ):
        print(f"{label}: {', '.join(report[key]) or 'none'}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    print("SPLIT-BRAIN" if report["split_brain"] else "ok: at most one writer and one root")
