"""The shipped demo repository deploys and verifies on the real engine."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.docker.conftest import DEMO, docker, free_port, http_get

pytestmark = pytest.mark.docker


def test_demo_repo_deploys_and_verifies(cli, engine, tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    port, name = str(free_port()), f"demo-{uuid.uuid4().hex[:8]}"
    compose = repo / "stacks" / "stack-demo" / "docker-compose.yml"
    intent = repo / "chatops" / "intents" / "rollout_stack_demo.yaml"
    docker("pull", "-q", f"{DEMO}:v1")
    compose.write_text(compose.read_text().replace("18080", port)
                       .replace("name: stack-demo", f"name: {name}"))
    intent.write_text(intent.read_text().replace("18080", port))
    try:
        assert cli("validate", "--repo", str(repo)).code == 0
        result = cli("run", "--repo", str(repo), "rollout_stack_demo")
        assert result.code == 0, result.out + result.err
        assert "✅ SUCCEEDED" in result.out
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"
    finally:
        docker("compose", "-f", str(compose), "down", "-t", "1", check=False)
