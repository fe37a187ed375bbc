"""The storage root's folder plan: what lives where, created on first use.

The root mirrors the webserver's ``exports/`` (so a symlink ``<checkout>/exports -> root``
works unpatched), and keeps the library's own files outside ``json/``: the webserver moves
every non-date folder of ``json/`` at each start, and would move ours too.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ai4artsed_storage._atomic import make_dirs
from ai4artsed_storage._errors import StorageConfigError, UnsafePath
from ai4artsed_storage._realpath import is_within, real_path_and_stat

#: Folders of exports/ that the root holds, as the webserver names them.
EXPORT_FOLDERS = ("json", "uploads_tmp", "pipeline_runs", "html", "pdf", "xml", "docx")
STATE_FOLDER = ".ai4artsed"
CONFLICTS_FOLDER = ".conflicts"
LEGACY_FOLDER = "legacy"


class StorageRoot:
    """One absolute storage root, e.g. ``/var/ai4artsed/storage``.

    :param path: absolute path; checked on :meth:`open`, not on construction, so that
        ``where`` can describe a root that does not exist yet.
    """

    def __init__(self, path: Path, *, source: str = "explicit argument") -> None:
        if not path.is_absolute():
            raise StorageConfigError("storage root must be absolute", value=path, source=source)
        self.path = path
        self.source = source
        self._real_path: Path | None = None

    def __repr__(self) -> str:
        return f"StorageRoot({str(self.path)!r})"

    @property
    def json_dir(self) -> Path:
        """Runs, in every layout: ``<root>/json``."""
        return self.path / "json"

    @property
    def uploads_dir(self) -> Path:
        """img2img uploads: ``<root>/uploads_tmp``."""
        return self.path / "uploads_tmp"

    @property
    def state_dir(self) -> Path:
        """The library's own files (index, locks, journal): ``<root>/.ai4artsed``."""
        return self.path / STATE_FOLDER

    @property
    def conflicts_dir(self) -> Path:
        """Files a migration kept aside rather than overwrite: ``<root>/.conflicts``."""
        return self.path / CONFLICTS_FOLDER

    @property
    def legacy_dir(self) -> Path:
        """Data older than exports/ (pipeline_runs, media_storage): ``<root>/legacy``."""
        return self.path / LEGACY_FOLDER

    @property
    def locks_dir(self) -> Path:
        return self.state_dir / "locks"

    def check(self) -> None:
        """Fail unless the root is (or can become) a writable directory.

        :raises StorageConfigError: naming the root and its source.
        """
        existing = self.path
        while not existing.exists():
            if existing.is_symlink():
                raise StorageConfigError(
                    "storage root is a dangling symlink", value=self.path, source=self.source
                )
            existing = existing.parent
        if not existing.is_dir():
            what = (
                "is not a directory"
                if existing == self.path
                else f"has a non-directory parent {existing}"
            )
            raise StorageConfigError(f"storage root {what}", value=self.path, source=self.source)
        if not os.access(existing, os.W_OK | os.X_OK):
            what = (
                "is not writable" if existing == self.path else f"cannot be created in {existing}"
            )
            raise StorageConfigError(
                f"storage root {what} by uid {os.geteuid()}", value=self.path, source=self.source
            )

    def open(self) -> StorageRoot:
        """Check the root and create its folder plan (modes 0750); returns self."""
        self.check()
        try:
            for folder in (*(self.path / name for name in EXPORT_FOLDERS), self.locks_dir):
                if not folder.is_dir():
                    make_dirs(folder)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise StorageConfigError(
                    f"storage root is not writable ({error.strerror})",
                    value=self.path,
                    source=self.source,
                ) from error
            raise
        return self

    def real_path(self) -> Path:
        """The root with symlinks resolved: what containment checks compare against.

        Resolved once per process: re-pointing a symlink above a root in use needs a
        restart, as any change of configuration does.
        """
        if self._real_path is None:
            self._real_path = self.path.resolve()
        return self._real_path

    def contain(self, candidate: Path, base: Path | None = None) -> Path:
        """Resolve the existing *candidate* (symlinks too) and insist it stays inside *base*
        (the root).

        :raises UnsafePath: if the real path leaves *base*.
        :raises OSError: if *candidate* or *base* does not exist or cannot be resolved.
        """
        return self.contain_with_stat(candidate, base)[0]

    def contain_with_stat(
        self, candidate: Path, base: Path | None = None
    ) -> tuple[Path, os.stat_result]:
        """:meth:`contain`, and the ``stat`` of what *candidate* really is."""
        real_base = str(self.real_path()) if base is None else real_path_and_stat(base)[0]
        real, status = real_path_and_stat(candidate)
        if not is_within(real, real_base):
            raise UnsafePath(candidate, Path(real_base))
        return Path(real), status
