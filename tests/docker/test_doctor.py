"""``chatops doctor`` on a host that is ready: the real engine and Compose, a Git checkout
of a real remote, a private state folder, a forge that reads the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.unit.test_gitops import World

pytestmark = pytest.mark.docker


def test_a_ready_host_is_said_to_be(cli, engine, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.create(tmp_path, {
        "chatops/intents/deploy_web.yaml": "label_required: approved\naction: rollout\n"
                                           "stack: web\n",
        "stacks/web/docker-compose.yml": "services:\n  web:\n    image: nginx:1\n"})
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    github = FakeGitHub().start()
    try:
        monkeypatch.setenv("CHATOPS_REPO", str(world.host))
        monkeypatch.setenv("CHATOPS_STATE_DIR", str(state))
        monkeypatch.setenv("CHATOPS_FORGE_REPO", github.repo)
        monkeypatch.setenv("CHATOPS_FORGE_TOKEN", github.token)
        monkeypatch.setenv("CHATOPS_FORGE_URL", github.api)
        result = cli("doctor")
    finally:
        github.stop()
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    for check in ("engine", "compose", "repository", "remote", "checkout", "state", "forge",
                  "clock"):
        assert any(line.startswith(f"✓ {check}:") for line in lines), (check, result.out)
    assert "✓ remote: origin/main answers" in result.out
    assert lines[-1] == "this host is ready"
