"""Child processes for tests that look at real processes: stand-ins that say when they are
ready, and one place that kills whatever a test started (the ``children`` fixture)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

#: A stand-in server: listens on a free loopback port, prints the port, waits to be killed.
LISTENER = """\
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
"""

Process = TypeVar("Process", bound="subprocess.Popen[Any]")


class Children:
    """The processes one test started; each is killed and reaped when the test ends."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def python(
        self, code: str, *args: str, script: Path | None = None, cwd: Path | None = None
    ) -> tuple[subprocess.Popen[str], str]:
        """Run *code* with this interpreter and wait for its first line, which the stand-in
        prints once it is ready (the port it listens on, a lock it holds).

        With *script* the code is written there and run as that file, named relative to
        *cwd* where it lies below it: doctor finds a checkout from the command line, as
        ``cd devserver && python server.py`` shows it.
        """
        if script is None:
            argv = [sys.executable, "-c", code, *args]
        else:
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(code)
            shown = script
            if cwd is not None and script.is_relative_to(cwd):
                shown = script.relative_to(cwd)
            argv = [sys.executable, str(shown), *args]
        child = self.adopt(subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, text=True))
        assert child.stdout is not None
        return child, child.stdout.readline().strip()

    def adopt(self, process: Process) -> Process:
        """Reap *process* with the others; for children started some other way."""
        self._started.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any]) -> None:
        """kill -9 now, for tests that check what the death leaves behind."""
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        # Popen.kill is a no-op on a child already reaped, so stopped ones are safe here.
        for process in self._started:
            self.stop(process)
