"""The production shape starts from the runtime install alone: ``pip install .`` into a fresh
virtual environment (no test extras), then gunicorn's gevent worker as docs/DEPLOY.md runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests

from tests.support.cluster import ROOT, reset_database
from tests.support.deploy import start_gunicorn


def test_gunicorn_starts_from_the_runtime_dependencies_alone() -> None:
    """gunicorn's gevent worker imports packaging, which gunicorn does not declare."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in project["dependencies"]}
    assert {"gunicorn", "gevent", "packaging"} <= names


# Building the wheel and installing every dependency (from pip's cache once warm) is slow.
@pytest.mark.timeout(900)
def test_a_runtime_only_install_serves_behind_gunicorn(tmp_path: Path) -> None:
    """A worker of a virtual environment holding only the runtime dependencies boots, answers
    REST and stops on SIGTERM: a dependency that only the test extras bring fails here."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # Not editable: the package and its declared dependencies, as an operator installs them.
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              str(ROOT)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    extras = subprocess.run([python, "-c", "import pytest"], capture_output=True)
    assert extras.returncode != 0, "the runtime install must not bring the test extras"
    reset_database()
    server = start_gunicorn(tmp_path, workers=1, python=python)
    try:
        answer = requests.post(f"{server.url}/api/v1/auth/register", timeout=10,
                               json={"username": "operator", "password": "long enough 2 pass"})
        assert answer.status_code == 201, answer.text
    finally:
        server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0, server.output()[-3000:]
    assert "Traceback" not in server.output()
