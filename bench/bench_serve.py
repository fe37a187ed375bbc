"""Image route throughput: ``ai4artsed-storage serve`` (waitress, 8 threads) beside nginx.

All in one run, on loopback, the same 2 MB file: Debian's nginx serving it statically (the
peer), the library's /api/media/image route through werkzeug's send_file (repeats of one
URL are kept immutable answers; a second row makes every URL new, so the route runs each
time), and the route in X-Accel-Redirect mode behind nginx (the route decides, nginx sends
the bytes). Load from wrk. Target: the image route at least 0.5x nginx.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from ai4artsed_storage import LivePipelineRecorder

NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
RUN_ID = "run_1739974401123_be2c4f"
SIZE = 2 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_root(root: Path) -> Path:
    """A finished layout-D run with one 2 MB image, dated a minute back (an image from
    earlier in a lesson, not one being written); returns the image's path."""
    recorder = LivePipelineRecorder(
        RUN_ID, "sd35_large", "eco", "youth", device_id="bench", base_path=root / "json"
    )
    body = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(SIZE - 8)
    name = recorder.save_entity("output_image", body, {"format": "png"})
    recorder.mark_complete()
    image = recorder.final_folder / name
    minute_ago = time.time() - 60
    for path in (image, image.parent, image.parent.parent):
        os.utime(path, (minute_ago, minute_ago))
    return image


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


#: wrk script: every request a URL not asked before (a query string the route ignores),
#: so the route runs for each one instead of a kept immutable answer.
NEW_URL_EACH_TIME = """
local counter = 0
request = function()
    counter = counter + 1
    return wrk.format(nil, wrk.path .. "?n=" .. counter .. "-" .. math.random(1e9))
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> float:
    """Requests per second wrk reaches against *url* (with a wrk Lua *script*)."""
    command = [WRK, "-t2", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or "Non-2xx" in out:
        raise SystemExit(f"wrk failed on {url}:\n{out}")
    return float(match.group(1))


def start_serve(root: Path, port: int, x_accel: bool, logs: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AI4ARTSED_STORAGE_ROOT": str(root), "AI4ARTSED_THREADS": "8"}
    if x_accel:
        env["AI4ARTSED_X_ACCEL_REDIRECT"] = "/_storage/"
    with logs.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "ai4artsed_storage", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


NGINX_CONF = """
daemon off;
user root;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ image/png png; }}
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {folder}/; }}
        location /_storage/ {{ internal; alias {root}/; }}
        location /api/ {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per subject")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ai4artsed-bench-serve-") as scratch:
        tmp = Path(scratch)
        root = (tmp / "storage").resolve()
        image = make_root(root)
        logs = tmp / "serve.log"
        backend_port, nginx_port = free_port(), free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                tmp=tmp, port=nginx_port, folder=image.parent, root=root, backend=backend_port
            )
        )
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(tmp / "nginx-error.log")])
        route = f"/api/media/image/{RUN_ID}/0"
        results: dict[str, float] = {}
        try:
            static_url = f"http://127.0.0.1:{nginx_port}/static/{image.name}"
            wait_for(static_url)
            results["nginx static (peer)"] = wrk(static_url, args.seconds, args.connections)

            serve = start_serve(root, backend_port, x_accel=False, logs=logs)
            direct = f"http://127.0.0.1:{backend_port}{route}"
            wait_for(direct)
            assert len(requests.get(direct, timeout=10).content) == SIZE
            results["library, waitress send_file"] = wrk(direct, args.seconds, args.connections)
            script = tmp / "new-url-each-time.lua"
            script.write_text(NEW_URL_EACH_TIME)
            results["library, waitress send_file, a new URL each request"] = wrk(
                direct, args.seconds, args.connections, script
            )
            stop(serve)

            serve = start_serve(root, backend_port, x_accel=True, logs=logs)
            via_nginx = f"http://127.0.0.1:{nginx_port}{route}"
            wait_for(via_nginx)
            assert len(requests.get(via_nginx, timeout=10).content) == SIZE
            results["library, X-Accel-Redirect via nginx"] = wrk(
                via_nginx, args.seconds, args.connections
            )
            stop(serve)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=20)

    peer = results["nginx static (peer)"]
    print()
    print(
        f"2 MB image, loopback, wrk -t2 -c{args.connections} -d{args.seconds}s, "
        f"{os.cpu_count()} cores shared by server and load"
    )
    print("| subject | req/s | x nginx |")
    print("|---|---|---|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / peer:.2f} |")
    for subject in (
        "library, waitress send_file",
        "library, waitress send_file, a new URL each request",
    ):
        ratio = results[subject] / peer
        verdict = "met" if ratio >= 0.5 else "MISSED"
        name = subject.removeprefix("library, ")
        print(f"target at least 0.5x nginx, {name}: {ratio:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
