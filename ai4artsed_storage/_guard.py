"""One backend per storage root: an exclusive flock held for the backend's whole life.

The incident was two backends writing two trees; with one root, two backends would share a
tree but not the webserver's never-cleared recorder cache. So the second one must not start:
it fails at once, naming the holder (pid, port, instance id) read from the lock file.
The kernel drops the lock when the holder dies, even by kill -9: no stale lock to clean up.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ai4artsed_storage._errors import InstanceLocked
from ai4artsed_storage._lock import locked
from ai4artsed_storage._root import StorageRoot

INSTANCE_LOCK_NAME = "instance.lock"
#: Guards held by this process. A backend may call ``InstanceGuard(...).acquire()`` and drop
#: the object; without this reference the garbage collector would close the fd and free the
#: lock silently while the backend keeps running.
_held: set[InstanceGuard] = set()


@dataclass(frozen=True)
class InstanceInfo:
    """Who a backend process is; ``instance_id`` is new at every start."""

    instance_id: str
    pid: int
    hostname: str
    port: int | None
    started_at: str

    @classmethod
    def create(cls, port: int | None = None) -> InstanceInfo:
        return cls(
            instance_id=str(uuid.uuid4()),
            pid=os.getpid(),
            hostname=socket.gethostname(),
            port=port,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.hostname}, port {self.port}, "
            f"instance {self.instance_id}, started {self.started_at}"
        )


def instance_lock_path(root: StorageRoot) -> Path:
    """``<root>/.ai4artsed/instance.lock``: outside json/, which the webserver re-files."""
    return root.state_dir / INSTANCE_LOCK_NAME


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"unknown holder ({error.strerror})"
    try:
        return InstanceInfo(**json.loads(text)).describe()
    except (ValueError, TypeError):
        # The holder may be between truncating and writing its description.
        return text.strip() or "unknown holder (lock file empty)"


class InstanceGuard:
    """Hold ``<root>/.ai4artsed/instance.lock`` exclusively, e.g. ``with InstanceGuard(...)``.

    :raises InstanceLocked: from :meth:`acquire` when another process holds it.
    """

    def __init__(self, root: StorageRoot, info: InstanceInfo) -> None:
        self.root = root
        self.info = info
        self.lock_path = instance_lock_path(root)
        self._stack: contextlib.ExitStack | None = None

    @property
    def held(self) -> bool:
        return self._stack is not None

    def acquire(self) -> InstanceGuard:
        if self._stack is not None:
            return self
        self.root.open()
        stack = contextlib.ExitStack()
        try:
            fd = stack.enter_context(locked(self.lock_path, blocking=False))
        except BlockingIOError:
            stack.close()
            raise InstanceLocked(self.lock_path, _holder(self.lock_path)) from None
        # Rewritten in place, never replaced: a new inode would be a second, free lock.
        data = json.dumps(asdict(self.info)).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._stack = stack
        _held.add(self)
        return self

    def release(self) -> None:
        """Give the lock up; the file stays (see ``_lock``), its content now stale."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            _held.discard(self)

    def __enter__(self) -> InstanceGuard:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
