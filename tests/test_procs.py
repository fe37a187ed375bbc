"""Reading listeners and processes from /proc, against real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from ai4artsed_storage._procs import listener_pids, listening_ports, process_info
from tests.procs import LISTENER, Children


def test_listener_pids_finds_a_child_listening_on_loopback(children: Children) -> None:
    child, said = children.python(LISTENER)
    port = int(said)
    assert listener_pids(port) == [child.pid]
    assert port in listening_ports()[child.pid]
    info = process_info(child.pid)
    assert info is not None
    assert info.cmdline[0] == sys.executable
    assert info.cwd == os.getcwd()
    children.stop(child)
    assert listener_pids(port) == []


def test_ipv6_listener_is_found() -> None:
    with socket.socket(socket.AF_INET6) as server:
        server.bind(("::1", 0))
        server.listen()
        assert listener_pids(server.getsockname()[1]) == [os.getpid()]


def test_gone_process_reads_as_none() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_info(child.pid) is None
