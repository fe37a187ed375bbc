#!/usr/bin/env python3
"""Print the lab host's state as JSON: who listens where, from which tree, under
which unit, and (--tree) what each exports/ tree holds, layout by layout.

Used by playbooks/lab_show.yml (people) and by Molecule's verify (assertions), so
both read the same facts. Read-only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pwd
import re
import subprocess
import tomllib
from pathlib import Path

LISTENER = re.compile(r":(\d+)\s.*?pid=(\d+)")
UNIT_PROPS = ("ActiveState", "SubState", "UnitFileState", "NRestarts", "MainPID", "Result")


def unit_of(pid: int) -> str | None:
    """The systemd unit a process runs in (system or user manager), from its cgroup."""
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    units = re.findall(r"/([^/\n]+\.(?:service|scope))", cgroup)
    # A user unit sits below user@UID.service; the innermost unit is the one that started it.
    return units[-1] if units else None


def process(pid: int) -> dict[str, object]:
    proc = Path(f"/proc/{pid}")
    argv = (proc / "cmdline").read_bytes().rstrip(b"\0").decode(errors="replace").split("\0")
    cwd = Path(proc.joinpath("cwd").readlink())
    script = next((Path(a) for a in argv[1:] if a.endswith(".py")), None)
    if script is not None and not script.is_absolute():
        script = cwd / script
    info: dict[str, object] = {
        "pid": pid,
        "user": pwd.getpwuid(proc.stat().st_uid).pw_name,
        "argv": argv,
        "cwd": str(cwd),
        "script": str(script.resolve()) if script else None,
        "unit": unit_of(pid),
    }
    if script is not None and script.parent.name == "devserver" and script.name == "server.py":
        info["role"] = "backend"
        info["kind"] = "stand-in"
        # The webserver's own rule: exports/ beside devserver/.
        info["exports_root"] = str(script.resolve().parent.parent / "exports")
    elif any(Path(a).name == "ai4artsed-storage" for a in argv) and "serve" in argv:
        # The deployed backend: the library's reference server on the configured root.
        info["role"] = "backend"
        info["kind"] = "library"
        info["script"] = " ".join(argv[1:])
        info["exports_root"] = storage_root_of(pid)
    else:
        info["role"] = "companion"
    return info


def storage_root_of(pid: int) -> str | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for item in environ:
        if item.startswith(b"AI4ARTSED_STORAGE_ROOT="):
            return item.split(b"=", 1)[1].decode()
    try:
        config = tomllib.loads(Path("/etc/ai4artsed/storage.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    root = config.get("storage_root")
    return str(root) if root else None


def listeners() -> dict[str, dict[str, object]]:
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True).stdout
    found: dict[str, dict[str, object]] = {}
    for line in out.splitlines():
        match = LISTENER.search(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = process(int(match.group(2)))
    return found


DATE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def run_summary(run_dir: Path, placed: str) -> dict[str, object]:
    """Layout per DOMAIN.md: placement gives A/B vs C vs D; files and metadata refine it."""
    meta_path = run_dir / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = None
    names = {p.name for p in run_dir.iterdir() if p.is_file()}
    old_files = any(n.startswith(("output_", "input_text", "transformed_text")) for n in names)
    new_files = any(re.match(r"^\d{2}_", n) for n in names)
    if meta is not None and meta.get("type") == "canvas_workflow":
        layout = "canvas"
    elif placed in ("C", "D"):
        layout = placed
    elif old_files and new_files:
        layout = "A+B"
    elif old_files:
        layout = "A"
    else:
        layout = "B"
    images = {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.png"))
    }
    return {"path": str(run_dir), "layout": layout, "metadata": meta is not None,
            "old_schema": meta is not None and "entities" not in meta, "images": images}


def tree(exports: Path) -> dict[str, object]:
    json_dir = exports / "json"
    runs: dict[str, dict[str, object]] = {}
    for child in sorted(json_dir.iterdir()) if json_dir.is_dir() else []:
        if not child.is_dir():
            continue
        if not DATE_NAME.match(child.name):
            runs[child.name] = run_summary(child, "A/B")
            continue
        for sub in sorted(p for p in child.iterdir() if p.is_dir()):
            if (sub / "metadata.json").is_file() and not any(p.is_dir() and (p / "metadata.json").exists() for p in sub.iterdir()):
                runs[sub.name] = run_summary(sub, "C")
            else:
                for run in sorted(p for p in sub.iterdir() if p.is_dir()):
                    runs[run.name] = run_summary(run, "D")
    layouts: dict[str, int] = {}
    for run in runs.values():
        layouts[str(run["layout"])] = layouts.get(str(run["layout"]), 0) + 1
    return {
        "layouts": layouts,
        "runs": runs,
        "top_level": sorted(p.name for p in exports.iterdir()) if exports.is_dir() else [],
        "json_files": sorted(p.name for p in json_dir.iterdir() if p.is_file()) if json_dir.is_dir() else [],
    }


def unit_state(name: str, user: str | None) -> dict[str, str]:
    cmd = ["systemctl", "show", name, "--property=" + ",".join(UNIT_PROPS)]
    if user:
        uid = pwd.getpwnam(user).pw_uid
        cmd = ["runuser", "-u", user, "--", "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", "systemctl", "--user", *cmd[1:]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unit", action="append", default=[], help="system unit to report")
    parser.add_argument("--user-unit", action="append", default=[], help="USER:UNIT of a user manager")
    parser.add_argument("--tree", action="append", default=[], type=Path, help="an exports/ folder to summarise")
    args = parser.parse_args()
    units = {u: unit_state(u, None) for u in args.unit}
    for spec in args.user_unit:
        user, name = spec.split(":", 1)
        units[f"{user}:{name}"] = unit_state(name, user)
    trees = {str(t): tree(t) for t in args.tree}
    # Run ids found in more than one tree, and whether their images agree.
    seen: dict[str, list[object]] = {}
    for summary in trees.values():
        for run_id, run in summary["runs"].items():  # type: ignore[attr-defined]
            seen.setdefault(run_id, []).append(run["images"])
    shared = {
        run_id: "identical" if all(i == images[0] for i in images) else "conflicting"
        for run_id, images in seen.items()
        if len(images) > 1
    }
    doc = {"listeners": listeners(), "units": units, "trees": trees, "shared_runs": shared}
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
