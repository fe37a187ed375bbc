"""doctor against real processes: backend and GPU-service stand-ins from temp checkouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai4artsed_storage._doctor import diagnose, find_units, unit_from_cgroup
from tests.conftest import cli, make_run, run_cli
from tests.procs import LISTENER, Children


def test_backends_and_companions_are_told_apart(tmp_path: Path, children: Children) -> None:
    prod = tmp_path / "ai4artsed-production"
    dev = tmp_path / "ai4artsed_webserver-develop"
    make_run(prod / "exports" / "json", "B", "run_1")
    make_run(dev / "exports" / "json", "D", "run_2")
    (dev / "devserver" / "pipeline_runs" / "3f2a9c1e").mkdir(parents=True)
    backend, port = children.python(
        LISTENER, script=prod / "devserver" / "server.py", cwd=prod / "devserver"
    )
    gpu, _ = children.python(
        LISTENER, script=dev / "gpu_service" / "server.py", cwd=dev / "gpu_service"
    )

    report = diagnose(unit_dirs=[])

    mine = {b["pid"]: b for b in report["backends"]}
    assert backend.pid in mine and gpu.pid not in mine
    assert mine[backend.pid]["ports"] == [int(port)]
    assert mine[backend.pid]["exports_dir"] == str(prod / "exports")
    companions = {c["pid"]: c for c in report["companions"]}
    assert companions[gpu.pid]["name"] == "gpu_service"
    assert str(prod / "exports") in report["exports_trees"]
    assert str(dev / "exports") in report["exports_trees"]  # found through the GPU service
    assert str(dev / "devserver" / "pipeline_runs") in report["pre_exports_data"]


def test_two_backends_are_split_brain_and_exit_1(tmp_path: Path, children: Children) -> None:
    prod = tmp_path / "ai4artsed-production"
    dev = tmp_path / "ai4artsed_webserver-develop"
    root = tmp_path / "storage"
    root.mkdir()
    (dev / "exports").parent.mkdir(parents=True)
    (dev / "exports").symlink_to(root)
    # absolute-ish, other cwd
    children.python(LISTENER, script=prod / "devserver" / "server.py", cwd=tmp_path)
    second, _ = children.python(
        LISTENER, script=dev / "devserver" / "server.py", cwd=dev / "devserver"
    )

    code, report = cli("doctor")
    assert code == 1
    assert report["split_brain"] is True
    by_pid = {b["pid"]: b for b in report["backends"]}
    assert by_pid[second.pid]["storage_root"] == str(root)
    assert str(dev / "exports") not in report["exports_trees"]  # a symlink into a root
    human = run_cli("doctor")
    assert human.returncode == 1 and "SPLIT-BRAIN" in human.stdout


def test_units_system_and_user(tmp_path: Path) -> None:
    system = tmp_path / "etc-systemd-system"
    user = tmp_path / "home-dev-config-systemd-user"
    (system / "multi-user.target.wants").mkdir(parents=True)
    (user / "default.target.wants").mkdir(parents=True)
    (system / "ai4artsed-production.service").write_text(
        "[Unit]\nDescription=x\n[Service]\nUser=joerissen\n"
        "WorkingDirectory=/opt/ai4artsed-production/devserver\n"
        "ExecStart=/opt/ai4artsed-production/venv/bin/python3 server.py\nRestart=always\n"
    )
    (system / "multi-user.target.wants" / "ai4artsed-production.service").symlink_to(
        system / "ai4artsed-production.service"
    )
    (system / "ai4artsed-swarmui.service").write_text(
        "[Service]\nExecStart=/opt/SwarmUI/launch.sh\n"
    )
    (system / "cloudflared.service").write_text(
        "[Service]\nExecStart=/usr/bin/cloudflared tunnel run\n"
    )
    (system / "unrelated.service").write_text("[Service]\nExecStart=/bin/true\n")
    (user / "ai4artsed-dev.service").write_text(
        "[Service]\nExecStart=/usr/bin/python3 "
        "/home/dev/ai4artsed_webserver-develop/devserver/server.py\n"
        "Environment=PORT=17802 AI4ARTSED_STORAGE_ROOT=/srv/other\n"
    )

    units = {u.name: u for u in find_units([(system, "system", None), (user, "user", "dev")])}

    assert set(units) == {
        "ai4artsed-production.service",
        "ai4artsed-swarmui.service",
        "cloudflared.service",
        "ai4artsed-dev.service",
    }
    prod = units["ai4artsed-production.service"]
    assert (prod.kind, prod.scope, prod.user) == ("backend", "system", "joerissen")
    assert prod.working_directory == "/opt/ai4artsed-production/devserver"
    assert units["ai4artsed-swarmui.service"].kind == "companion"
    assert units["cloudflared.service"].kind == "companion"
    dev = units["ai4artsed-dev.service"]
    assert (dev.kind, dev.scope, dev.user) == ("backend", "user", "dev")
    assert dev.environment["AI4ARTSED_STORAGE_ROOT"] == "/srv/other"
    if prod.active_state is None:  # no systemd in this sandbox: state read from the files
        assert prod.unit_file_state == "enabled"
        assert dev.unit_file_state == "disabled"


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        # cgroup v1 + v2 "unified" hybrid, as on the lab host: several lines, unit mid-text.
        (
            "12:pids:/system.slice/ai4artsed-backend.service\n"
            "1:name=systemd:/system.slice/ai4artsed-backend.service\n"
            "0::/\n",
            "ai4artsed-backend.service",
        ),
        ("0::/system.slice/ai4artsed-production.service\n", "ai4artsed-production.service"),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/ai4artsed-dev.service\n",
            "ai4artsed-dev.service",
        ),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
    ],
)
def test_unit_from_cgroup(text: str, unit: str | None) -> None:
    assert unit_from_cgroup(text) == unit
