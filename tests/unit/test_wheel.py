"""The wheel works alone: built from a clean copy of the tree, installed into a fresh
virtual environment (its dependencies from the package index, nothing from this one),
where ``chatops --version``, ``init``, ``validate``, ``plan``, ``schema`` and ``serve``
(the dashboard's templates and htmx inside the package) all work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from chatops import __version__
from tests.conftest import ROOT
from tests.docker.conftest import free_port


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built and installed into a fresh venv: the venv's bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "__pycache__", "*.egg-info", "build", "dist"))
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"),
                            str(tree)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("chatops-*.whl")
    assert wheel.name == f"chatops-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for part in ("chatops/web/templates/base.html", "chatops/web/static/htmx.min.js",
                 "chatops/py.typed"):
        assert part in names, part
    meta = zipfile.ZipFile(wheel).read(f"chatops-{__version__}.dist-info/METADATA").decode()
    assert "License: MIT" in meta or "License-Expression: MIT" in meta
    assert "Classifier: Programming Language :: Python :: 3.11" in meta
    assert "Provides-Extra: browser" in meta
    assert "pipx install chatops" in meta  # the short README is the description
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin"


def run(bin_dir: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATOPS_", "PYTHON"))}
    return subprocess.run([str(bin_dir / "chatops"), *args], capture_output=True, text=True,
                          check=False, cwd=cwd, env={**env, "CHATOPS_STATE_DIR": str(
                              (cwd or bin_dir) / "state")})


def test_the_installed_commands_work_alone(installed: Path, tmp_path: Path) -> None:
    assert run(installed, "--version").stdout.strip() == f"chatops {__version__}"
    repo = tmp_path / "gitops"
    assert run(installed, "init", str(repo)).returncode == 0
    valid = run(installed, "validate", "--repo", str(repo), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "✓ rollout_example.yaml" in valid.stdout
    plan = run(installed, "plan", "rollout_example", "--repo", str(repo), cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "docker compose" in plan.stdout
    schema = json.loads(run(installed, "schema").stdout)
    assert "label_required" in json.dumps(schema)


def test_the_installed_service_serves_the_api_and_the_dashboard(installed: Path,
                                                                 tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    assert run(installed, "init", str(repo)).returncode == 0
    key = run(installed, "keys", "create", "ci", cwd=tmp_path)
    assert key.returncode == 0, key.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATOPS_", "PYTHON"))}
    proc = subprocess.Popen([str(installed / "chatops"), "serve", "--repo", str(repo),
                             "--port", str(port)], env={**env, "CHATOPS_STATE_DIR": str(
                                 tmp_path / "state")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError(proc.stderr.read() if proc.stderr else "no answer")
        login = httpx.get(url + "/ui/login")
        assert login.status_code == 200
        assert "/ui/static/htmx.min.js" in login.text
        assert httpx.get(url + "/ui/static/htmx.min.js").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
