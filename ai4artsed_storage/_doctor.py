"""Who writes where on this host: backends, companions, units, exports/ trees, roots.

A backend is ``devserver/server.py`` under any python, or the library's ``serve``; only
backends count as writers. ``gpu_service/server.py``, SwarmUI/ComfyUI and cloudflared are
companions a deploy must never stop (the incident's kill scripts matched ``server.py`` alone).
Split-brain is more than one writer, or more than one root in use: the 404s of the incident.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ai4artsed_storage._migrate._sources import PRE_EXPORTS
from ai4artsed_storage._procs import ProcessInfo, listening_ports, process_info, processes
from ai4artsed_storage._settings import CONFIG_ENV, DEFAULT_CONFIG_FILE

ROOT_ENV = "AI4ARTSED_STORAGE_ROOT"
BACKEND_PORTS = (17801, 17802)
COMPANION_PORTS = {17803: "gpu_service", 7801: "swarmui", 7821: "comfyui"}
SYSTEM_UNIT_DIRS = (
    Path("/etc/systemd/system"),
    Path("/run/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
)
USER_UNIT_DIRS = (Path("/etc/systemd/user"),)
# One line per hierarchy (several on hybrid cgroups): "$" must match at each line end.
_CGROUP_UNIT = re.compile(r"/([^/\n]+\.service)(?:/|$)", re.MULTILINE)


@dataclass
class Backend:
    pid: int
    cmdline: list[str]
    cwd: str | None
    ports: list[int]
    unit: str | None
    exports_dir: str | None
    storage_root: str | None


@dataclass
class Companion:
    pid: int
    cmdline: list[str]
    name: str
    ports: list[int]


@dataclass
class Unit:
    name: str
    scope: str
    user: str | None
    path: str
    working_directory: str | None
    exec_start: str | None
    active_state: str | None
    unit_file_state: str | None
    kind: str
    environment: dict[str, str] = field(default_factory=dict)


def _script(info: ProcessInfo, suffix: str) -> Path | None:
    """The script argument ending in *suffix* (``devserver/server.py``), made absolute."""
    if not info.cmdline or "python" not in Path(info.cmdline[0]).name:
        return None
    for arg in info.cmdline[1:3]:
        if arg.startswith("-"):
            continue
        path = Path(arg) if os.path.isabs(arg) or info.cwd is None else Path(info.cwd, arg)
        path = Path(os.path.normpath(path))
        if path.as_posix().endswith(suffix):
            return path
        break
    return None


def _is_serve(info: ProcessInfo) -> bool:
    args = info.cmdline
    for index, arg in enumerate(args[:-1]):
        name = Path(arg).name
        if name in ("ai4artsed-storage", "ai4artsed_storage") and args[index + 1] == "serve":
            return True
    return False


def _unit_of(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    return unit_from_cgroup(text)


def unit_from_cgroup(text: str) -> str | None:
    """The systemd unit named in a ``/proc/<pid>/cgroup`` text, user units included."""
    units = _CGROUP_UNIT.findall(text)
    # user@1000.service is the user manager; the unit inside it is the last match.
    units = [u for u in units if not u.startswith("user@")] or units
    return units[-1] if units else None


def _configured_root(info: ProcessInfo) -> str | None:
    if info.environ.get(ROOT_ENV):
        return info.environ[ROOT_ENV]
    config = Path(info.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    try:
        value = tomllib.loads(config.read_text()).get("storage_root")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return str(value) if value else None


def _backend(info: ProcessInfo, ports: list[int]) -> Backend | None:
    script = _script(info, "devserver/server.py")
    if script is not None:
        exports = script.parent.parent / "exports"
        root = info.environ.get(ROOT_ENV)
        if root is None and exports.is_symlink():
            root = str(exports.resolve())
        return Backend(
            info.pid, list(info.cmdline), info.cwd, ports, _unit_of(info.pid), str(exports), root
        )
    if _is_serve(info):
        return Backend(
            info.pid,
            list(info.cmdline),
            info.cwd,
            ports,
            _unit_of(info.pid),
            None,
            _configured_root(info),
        )
    return None


def _companion(info: ProcessInfo, ports: list[int]) -> Companion | None:
    name: str | None = None
    if _script(info, "gpu_service/server.py") is not None:
        name = "gpu_service"
    elif info.cmdline and Path(info.cmdline[0]).name == "cloudflared":
        name = "cloudflared"
    elif any(re.search(r"swarmui", a, re.IGNORECASE) for a in info.cmdline):
        name = "swarmui"
    elif any(re.search(r"comfyui", a, re.IGNORECASE) for a in info.cmdline):
        name = "comfyui"
    else:
        name = next((COMPANION_PORTS[p] for p in ports if p in COMPANION_PORTS), None)
    return None if name is None else Companion(info.pid, list(info.cmdline), name, ports)


def _unit_kind(text: str, name: str) -> str:
    lowered = text.lower()
    if "devserver/server.py" in lowered or re.search(r"ai4artsed[-_]storage\S*\s+serve", lowered):
        return "backend"
    if re.search(r"workingdirectory=\S*/devserver\s", lowered + "\n") and "server.py" in lowered:
        return "backend"
    if any(word in lowered or word in name for word in ("gpu_service", "swarmui", "comfyui")):
        return "companion"
    if "cloudflared" in name:
        return "companion"
    return "other"


def _parse_unit(path: Path) -> dict[str, str]:
    """The [Service] keys we report (last assignment wins, as systemd reads them)."""
    values: dict[str, str] = {}
    section = ""
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            if key.strip() == "Environment":
                values["Environment"] = values.get("Environment", "") + " " + value
            else:
                values[key.strip()] = value.strip()
    return values


def _environment(text: str) -> dict[str, str]:
    pairs = re.findall(r'"?([A-Za-z_][A-Za-z0-9_]*)=([^"\s]*)"?', text)
    return dict(pairs)


def _file_state(path: Path, unit_dir: Path) -> str:
    """enabled/disabled/masked from the files themselves (no systemd needed)."""
    if path.is_symlink() and os.readlink(path) == "/dev/null":
        return "masked"
    wanted = any(unit_dir.glob(f"*.wants/{path.name}")) or any(
        unit_dir.glob(f"*.requires/{path.name}")
    )
    return "enabled" if wanted else "disabled"


def _systemctl_show(name: str, scope: str, user: str | None) -> dict[str, str]:
    if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        return {}
    command = ["systemctl", "show", "-p", "ActiveState", "-p", "UnitFileState", name]
    if scope == "user":
        if user is None:
            return {}
        command[1:1] = ["--user", f"--machine={user}@"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _unit_dirs() -> list[tuple[Path, str, str | None]]:
    dirs: list[tuple[Path, str, str | None]] = [(d, "system", None) for d in SYSTEM_UNIT_DIRS]
    dirs += [(d, "user", None) for d in USER_UNIT_DIRS]
    for home in [*Path("/home").glob("*"), Path("/root")]:
        dirs.append((home / ".config" / "systemd" / "user", "user", home.name))
    return [entry for entry in dirs if entry[0].is_dir()]


def find_units(unit_dirs: list[tuple[Path, str, str | None]] | None = None) -> list[Unit]:
    """Every unit file mentioning ai4artsed (plus cloudflared), system and user scope.

    :param unit_dirs: (folder, scope, owning user) to read instead of this host's.
    """
    units: dict[tuple[str, str, str | None], Unit] = {}
    for unit_dir, scope, owner in _unit_dirs() if unit_dirs is None else unit_dirs:
        for path in sorted(unit_dir.glob("*.service")):
            try:
                text = "" if os.readlink(path) == "/dev/null" else path.read_text(errors="replace")
            except OSError:
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
            if "ai4artsed" not in (text + path.name).lower() and "cloudflared" not in path.name:
                continue
            key = (path.name, scope, owner)
            if key in units:  # /etc overrides /lib, as systemd reads them
                continue
            values = _parse_unit(path) if text else {}
            user = owner if scope == "user" else values.get("User")
            shown = _systemctl_show(path.name, scope, owner)
            units[key] = Unit(
                name=path.name,
                scope=scope,
                user=user,
                path=str(path),
                working_directory=values.get("WorkingDirectory"),
                exec_start=values.get("ExecStart"),
                active_state=shown.get("ActiveState"),
                unit_file_state=shown.get("UnitFileState") or _file_state(path, unit_dir),
                kind=_unit_kind(text, path.name),
                environment=_environment(values.get("Environment", "")),
            )
    return list(units.values())


def _checkouts(
    backends: list[Backend], companions: list[Companion], units: list[Unit]
) -> set[Path]:
    found: set[Path] = set()
    for backend in backends:
        if backend.exports_dir is not None:
            found.add(Path(backend.exports_dir).parent)
    for companion in companions:
        if companion.name == "gpu_service":
            checkout = _gpu_checkout(companion.pid)
            if checkout is not None:
                found.add(checkout)
    for unit in units:
        wd = unit.working_directory
        if wd and Path(wd).name in ("devserver", "gpu_service"):
            found.add(Path(wd).parent)
    return found


def _gpu_checkout(pid: int) -> Path | None:
    """The checkout of a GPU service: its script's folder's parent (its data is user data
    too: the dev checkout often has no backend running, only the GPU service)."""
    info = process_info(pid)
    script = None if info is None else _script(info, "gpu_service/server.py")
    return None if script is None else script.parent.parent


def diagnose(unit_dirs: list[tuple[Path, str, str | None]] | None = None) -> dict[str, Any]:
    """Everything ``doctor`` reports, as the JSON the deploy roles read."""
    ports = listening_ports()
    backends: list[Backend] = []
    companions: list[Companion] = []
    for info in processes():
        if info.pid == os.getpid():
            continue
        own_ports = ports.get(info.pid, [])
        backend = _backend(info, own_ports)
        if backend is not None:
            backends.append(backend)
            continue
        companion = _companion(info, own_ports)
        if companion is not None:
            companions.append(companion)
    units = find_units(unit_dirs)
    checkouts = _checkouts(backends, companions, units)
    exports_trees = sorted(
        str(c / "exports")
        for c in checkouts
        if (c / "exports").is_dir() and not (c / "exports").is_symlink()
    )
    pre_exports = sorted(
        str(c / rel) for c in checkouts for rel in PRE_EXPORTS if (c / rel).is_dir()
    )
    roots = {b.storage_root for b in backends if b.storage_root}
    roots |= {u.environment[ROOT_ENV] for u in units if ROOT_ENV in u.environment}
    in_use = {
        str(Path(b.storage_root or b.exports_dir or "").resolve())
        for b in backends
        if b.storage_root or b.exports_dir
    }
    problems = []
    if len(backends) > 1:
        problems.append(
            f"{len(backends)} backends write: pids {', '.join(str(b.pid) for b in backends)}"
        )
    if len(in_use) > 1:
        problems.append(f"backends use {len(in_use)} different trees: {', '.join(sorted(in_use))}")
    if len(roots) > 1:
        problems.append(f"more than one storage root configured: {', '.join(sorted(roots))}")
    problems += [f"exports/ tree not migrated: {tree}" for tree in exports_trees]
    problems += [f"pre-exports data not migrated: {path}" for path in pre_exports]
    return {
        "backends": [asdict(b) for b in backends],
        "companions": [asdict(c) for c in companions],
        "units": [{k: v for k, v in asdict(u).items() if k != "environment"} for u in units],
        "exports_trees": exports_trees,
        "pre_exports_data": pre_exports,
        "storage_roots": sorted(roots),
        "split_brain": len(backends) > 1 or len(in_use) > 1 or len(roots) > 1,
        "problems": problems,
    }
