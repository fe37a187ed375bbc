"""Drive every Molecule scenario under molecule/ as one pytest test each.

Molecule prints no closing count, so CI could not tell how many scenarios ran;
pytest does. Output streams to the terminal while a scenario runs (a scenario
takes minutes), and the scenario's containers are removed by label afterwards,
also when Molecule failed or was interrupted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.fixture(scope="session", autouse=True)
def lab_image(pytestconfig: pytest.Config) -> None:
    """Every scenario starts from the local image; build it once if absent."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        subprocess.run(["bash", str(REPO / "lab" / "build-image.sh")], check=True)


def remove_containers(scenario: str) -> None:
    subprocess.run(
        [
            "podman",
            "rm",
            "--force",
            "--time",
            "0",
            "--filter",
            f"label=ai4artsed.lab.scenario={scenario}",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, capfd: pytest.CaptureFixture[str]) -> None:
    env = dict(os.environ)
    # molecule calls ansible-playbook and ansible-config by name, and keeps its
    # cache under $VIRTUAL_ENV (an ignored folder) rather than in $HOME.
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env.setdefault("ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0")
    remove_containers(scenario)
    try:
        with capfd.disabled():
            print(f"\n==> [molecule] scenario {scenario}", flush=True)
            result = subprocess.run(
                ["molecule", "test", "--scenario-name", scenario], cwd=REPO, env=env, check=False
            )
    finally:
        remove_containers(scenario)
    assert result.returncode == 0, f"molecule test -s {scenario} exited {result.returncode}"
