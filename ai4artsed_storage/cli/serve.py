"""``serve``: the reference backend, one per storage root.

Order matters: the instance lock first (a second backend on the root is refused naming the
holder, whatever port it asked for), then the port (taken: refused naming the listener,
never another port), then waitress until SIGTERM, which stops it and frees the lock.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

from ai4artsed_storage._guard import InstanceGuard, InstanceInfo
from ai4artsed_storage._procs import listener_pids, process_info
from ai4artsed_storage._root import StorageRoot
from ai4artsed_storage._settings import load_settings
from ai4artsed_storage.web import create_app, create_waitress_server

logger = logging.getLogger("ai4artsed_storage.serve")

EXIT_OK = 0
EXIT_REFUSED = 1

#: syslog priorities for systemd's "<N>" line prefix (journald strips it and files the level).
_SYSLOG_LEVELS = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class _JournalFormatter(logging.Formatter):
    """Under systemd (``JOURNAL_STREAM`` set) a ``<N>`` prefix and no timestamp: journald
    adds its own. In a terminal, a timestamp instead."""

    def __init__(self) -> None:
        self.journal = bool(os.environ.get("JOURNAL_STREAM"))
        pattern = "%(name)s: %(message)s" if self.journal else "%(asctime)s %(name)s: %(message)s"
        super().__init__(pattern)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record).replace("\n", " | ")
        if self.journal:
            return f"<{_SYSLOG_LEVELS.get(record.levelno, 6)}>{line}"
        return f"{record.levelname} {line}"


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JournalFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the reference backend (media routes, health, gallery) on the root"
    )
    parser.add_argument("--host", help="address to bind (setting: host)")
    parser.add_argument("--port", type=int, help="port to bind (setting: port)")
    parser.add_argument("--threads", type=int, help="waitress worker threads (setting: threads)")
    parser.set_defaults(func=run)


def describe_listeners(port: int) -> str:
    """Who listens on *port*, e.g. ``pid 4242 (python3 devserver/server.py)``."""
    described = []
    for pid in listener_pids(port):
        info = process_info(pid)
        command = " ".join(info.cmdline) if info else "?"
        described.append(f"pid {pid} ({command})")
    return ", ".join(described) or "a process this user cannot see"


class _Stop(SystemExit):
    """Raised by the SIGTERM/SIGINT handler. A SystemExit, because waitress' loop re-raises
    only SystemExit and KeyboardInterrupt: any other exception raised while it dispatches a
    channel is logged as that channel's error and the server keeps running."""


def run(args: argparse.Namespace) -> int:
    _configure_logging()
    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("threads", args.threads))
        if value is not None
    }
    resolved = load_settings(**overrides)
    settings = resolved.settings
    root = StorageRoot(settings.storage_root, source=resolved.root_source)
    info = InstanceInfo.create(settings.port)
    with InstanceGuard(root, info) as guard:
        app = create_app(settings, instance=info)
        try:
            server = create_waitress_server(
                app, host=settings.host, port=settings.port, threads=settings.threads
            )
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            print(
                f"ai4artsed-storage: error: port {settings.port} on {settings.host} is in use "
                f"by {describe_listeners(settings.port)}; not starting on another port",
                file=sys.stderr,
            )
            return EXIT_REFUSED
        stopped_by: list[str] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopped_by.append(signal.Signals(signum).name)
            raise _Stop(EXIT_OK)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        logger.info(
            "serving http://%s:%d root=%s (%s) pid=%d instance_id=%s threads=%d lock=%s",
            settings.host,
            settings.port,
            root.path,
            resolved.root_source,
            info.pid,
            info.instance_id,
            settings.threads,
            guard.lock_path,
        )
        try:
            server.run()  # returns when a _Stop ends its loop
        except _Stop:
            pass  # raised outside the loop's own handling
        finally:
            logger.info("stopping on %s", stopped_by[0] if stopped_by else "server exit")
            server.task_dispatcher.shutdown()
            server.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    logger.info("stopped; instance lock released")
    return EXIT_OK
