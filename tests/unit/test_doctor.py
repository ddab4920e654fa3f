"""``chatops doctor`` on a broken host: each problem named in one line with what to do,
and exit 1; nothing changed (the state folder is not created)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.policy_kit import allow_loopback

BLUE_GREEN = """\
label_required: approved
action: rollout
stack: web
service: web
strategy: blue-green
traffic:
  driver: haproxy
  listen: 127.0.0.1:18080
  ports: {blue: 18081, green: 18082}
"""


def test_a_broken_host_is_told_each_problem(cli, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1\n    environment:\n      PORT: ${PORT}\n")
    (repo / "chatops" / "intents" / "bg_web.yaml").write_text(BLUE_GREEN)
    allow_loopback(repo)
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    github = FakeGitHub().start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
        monkeypatch.setenv("CHATOPS_REPO", str(repo))
        monkeypatch.setenv("CHATOPS_STATE_DIR", str(state))
        monkeypatch.delenv("CHATOPS_HAPROXY_SOCKET", raising=False)
        monkeypatch.setenv("CHATOPS_FORGE_REPO", github.repo)
        monkeypatch.setenv("CHATOPS_FORGE_TOKEN", "not-the-token")
        monkeypatch.setenv("CHATOPS_FORGE_URL", github.api)

        result = cli("doctor")

        assert result.code == 1, result.out + result.err
        lines = {line.split(":", 1)[0]: line for line in result.out.splitlines()}
        assert lines["✗ engine"].endswith("start dockerd, or set DOCKER_HOST to where it "
                                          "listens")
        assert "no-engine.sock" in lines["✗ engine"]
        assert lines["✗ checkout"] == (f"✗ checkout: {repo} is not a Git checkout: clone "
                                       "the GitOps repository there, so deploys come from "
                                       "Git")
        assert "others may read or write it (mode drwxrwxrwx): chmod 700" in lines["✗ state"]
        assert "CHATOPS_HAPROXY_SOCKET" in lines["✗ haproxy"]
        assert "GitHub refused the token (401)" in lines["✗ forge"]
        assert "CHATOPS_FORGE_TOKEN needs read access to the repository" in lines["✗ forge"]
        assert result.out.rstrip().endswith("5 problem(s) to fix")
        as_json = json.loads(cli("doctor", "--format", "json").out)
        assert {f["check"] for f in as_json if f["ok"] is False} == {
            "engine", "checkout", "state", "haproxy", "forge"}
    finally:
        github.stop()
