"""``ai4artsed-storage serve`` as real processes: one per root, a taken port refused, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

from tests.conftest import cli_argv, make_run
from tests.procs import Children

STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Backend:
    """One ``serve`` process on *root* and *port*; output captured to files."""

    def __init__(self, root: Path, port: int, logs: Path) -> None:
        self.port = port
        self.stdout_path = logs / f"serve-{port}-{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        env = {**os.environ, "AI4ARTSED_STORAGE_ROOT": str(root), "AI4ARTSED_THREADS": "2"}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                cli_argv("serve", "--port", str(port)),
                stdout=out,
                stderr=err,
                env=env,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict[str, object]:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}: {self.stderr}")
            try:
                body: dict[str, object] = requests.get(f"{self.url}/api/health", timeout=2).json()
                return body
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"no health answer in {STARTUP_SECONDS}s: {self.stderr}")

    def wait(self, timeout: float = STARTUP_SECONDS) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


def start(children: Children, root: Path, port: int, logs: Path) -> Backend:
    backend = Backend(root, port, logs)
    children.adopt(backend.process)
    return backend


def test_serve_answers_health_and_media_and_logs_to_stdout(
    root_path: Path, tmp_path: Path, children: Children
) -> None:
    make_run(root_path / "json", "D", "run_1739974401123_9f3a1c")
    backend = start(children, root_path, free_port(), tmp_path)

    health = backend.health()

    assert health["pid"] == backend.process.pid
    assert health["port"] == backend.port
    assert health["storage_root"] == str(root_path)
    image = requests.get(f"{backend.url}/api/media/image/run_1739974401123_9f3a1c", timeout=5)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    lock = (root_path / ".ai4artsed" / "instance.lock").read_text()
    assert str(health["instance_id"]) in lock
    assert f"instance_id={health['instance_id']}" in backend.stdout


def test_second_backend_on_the_root_is_refused_naming_the_holder(
    root_path: Path, tmp_path: Path, children: Children
) -> None:
    first = start(children, root_path, free_port(), tmp_path)
    holder = first.health()

    second = start(children, root_path, free_port(), tmp_path)

    assert second.wait() == 1
    assert f"pid {first.process.pid}" in second.stderr
    assert f"port {first.port}" in second.stderr
    assert str(holder["instance_id"]) in second.stderr
    assert first.health()["instance_id"] == holder["instance_id"], "the holder keeps running"


def test_same_port_on_the_same_root_names_the_holder_too(
    root_path: Path, tmp_path: Path, children: Children
) -> None:
    first = start(children, root_path, free_port(), tmp_path)
    first.health()

    second = start(children, root_path, first.port, tmp_path)

    assert second.wait() == 1
    assert f"pid {first.process.pid}" in second.stderr


def test_taken_port_is_refused_naming_the_listener(
    root_path: Path, tmp_path: Path, children: Children
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        backend = start(children, root_path, port, tmp_path)

        assert backend.wait() == 1
    assert f"port {port} on 127.0.0.1 is in use by pid {os.getpid()}" in backend.stderr
    assert "not starting on another port" in backend.stderr
    # Refused before serving: the lock is free again for the next backend.
    after = start(children, root_path, free_port(), tmp_path)
    assert after.health()["pid"] == after.process.pid


def _keep_asking(url: str, until: threading.Event) -> None:
    with requests.Session() as session:
        for _ in range(2000):
            if until.is_set():
                return
            try:
                session.get(f"{url}/api/health", timeout=2)
            except requests.RequestException:
                return


def test_sigterm_stops_cleanly_under_load_and_frees_the_root(
    root_path: Path, tmp_path: Path, children: Children
) -> None:
    first = start(children, root_path, free_port(), tmp_path)
    first.health()
    done = threading.Event()
    clients = [threading.Thread(target=_keep_asking, args=(first.url, done)) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(0.5)  # the signal lands while requests are being dispatched

    first.process.send_signal(signal.SIGTERM)

    try:
        assert first.wait() == 0
    finally:
        done.set()
        for client in clients:
            client.join()
    assert "stopping on SIGTERM" in first.stdout
    assert "instance lock released" in first.stdout
    successor = start(children, root_path, first.port, tmp_path)
    assert successor.health()["pid"] == successor.process.pid
