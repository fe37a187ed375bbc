"""What this host's processes are doing, read from /proc: listeners, command lines, cwd, env.

Reading /proc directly (not ``ss``/``lsof``) keeps the library free of tools a minimal host
lacks. Processes come and go while we read: every read tolerates a vanished pid, and a
process of another user whose fds we may not read is simply not matched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TCP_TABLES = ("net/tcp", "net/tcp6")
_LISTEN_STATE = "0A"


def _listening_inodes() -> dict[int, set[int]]:
    """Socket inode -> local ports it listens on (IPv4 and IPv6)."""
    inodes: dict[int, set[int]] = {}
    for table in _TCP_TABLES:
        try:
            lines = (_PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN_STATE:
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            inodes.setdefault(int(fields[9]), set()).add(port)
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    found: set[int] = set()
    fd_dir = _PROC / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def pids() -> Iterator[int]:
    """Every pid visible in /proc right now."""
    for name in os.listdir(_PROC):
        if name.isdigit():
            yield int(name)


def listening_ports() -> dict[int, list[int]]:
    """pid -> sorted TCP ports it listens on, for every process that listens on any."""
    inodes = _listening_inodes()
    result: dict[int, list[int]] = {}
    if not inodes:
        return result
    for pid in pids():
        ports: set[int] = set()
        for inode in _socket_inodes(pid):
            ports |= inodes.get(inode, set())
        if ports:
            result[pid] = sorted(ports)
    return result


def listener_pids(port: int) -> list[int]:
    """Pids of the processes listening on TCP *port* (any address), sorted; may be empty.

    A listener owned by another user is missed unless we may read its fds (root may).
    """
    return sorted(pid for pid, ports in listening_ports().items() if port in ports)


@dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one process; fields we may not read are empty/None."""

    pid: int
    cmdline: tuple[str, ...]
    cwd: str | None
    environ: dict[str, str]
    uid: int | None


def _read_environ(pid: int) -> dict[str, str]:
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    environ: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            environ[key.decode(errors="replace")] = value.decode(errors="replace")
    return environ


def process_info(pid: int) -> ProcessInfo | None:
    """What /proc says about *pid*, or None when it is gone or a kernel thread."""
    base = _PROC / str(pid)
    try:
        raw = (base / "cmdline").read_bytes()
        uid = base.stat().st_uid
    except OSError:
        return None
    if not raw:
        return None
    cmdline = tuple(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))
    try:
        cwd: str | None = os.readlink(base / "cwd")
    except OSError:
        cwd = None
    return ProcessInfo(pid, cmdline, cwd, _read_environ(pid), uid)


def processes() -> Iterator[ProcessInfo]:
    """Every user-space process we can see."""
    for pid in pids():
        info = process_info(pid)
        if info is not None:
            yield info
