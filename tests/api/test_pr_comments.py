"""The pull request as a chat surface: a signed ``pull_request`` webhook (or ``chatops
plan --pr`` in the validate workflow) leaves one comment with the plan of every intent
the pull request affects, and updates that same comment on each push. GitHub is a
loopback stand-in that speaks its documented REST endpoints; Git is real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from chatops.gitops.forges.github import sign
from tests import served
from tests.fakes.github import FakeGitHub
from tests.unit.test_gitops import World, git

SECRET = "pr-webhook-secret-" + uuid.uuid4().hex
COMPOSE = "services:\n  web:\n    image: {image}\n  db:\n    image: postgres:16\n"
INTENT = ("label_required: approved\naction: rollout\nstack: web\nservice: web\n"
          "health:\n  - http: http://127.0.0.1:18080/health\n    within: 30s\n"
          "approval:\n  approvers: [\"discord:role:42\"]\n")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, {
        "stacks/web/docker-compose.yml": COMPOSE.format(image="registry.local/web:1.0"),
        "stacks/other/docker-compose.yml": COMPOSE.format(image="registry.local/o:1"),
        "chatops/intents/rollout_web.yaml": INTENT,
        "chatops/intents/rollout_other.yaml": INTENT.replace("stack: web", "stack: other")})


def branch_commit(world: World, files: dict[str, str], branch: str = "feature") -> str:
    """A commit on ``branch`` (not merged), pushed to the remote."""
    if git(world.dev, "rev-parse", "--abbrev-ref", "HEAD") != branch:
        git(world.dev, "checkout", "-q", "-B", branch)
    for name, text in files.items():
        (world.dev / name).write_text(text)
    git(world.dev, "commit", "-qam", "change")
    git(world.dev, "push", "-q", "origin", f"HEAD:{branch}")
    return git(world.dev, "rev-parse", "HEAD")


def pull_request(url: str, action: str, number: int, base: str, head: str, *,
                 secret: str = SECRET) -> httpx.Response:
    body = json.dumps({"action": action, "number": number, "pull_request": {
        "number": number, "base": {"ref": "main", "sha": base},
        "head": {"ref": "feature", "sha": head}}}).encode()
    return httpx.post(f"{url}/webhooks/github", content=body, timeout=30, headers={
        "content-type": "application/json", "x-github-event": "pull_request",
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": sign(secret.encode(), body)})


def test_a_pull_request_gets_one_plan_comment_updated_on_each_push(world: World,
                                                                   tmp_path: Path) -> None:
    github = FakeGitHub().start()
    service = served.start(world.host, tmp_path / "state", env={
        "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
        "CHATOPS_GITHUB_API": github.api, "CHATOPS_GITHUB_WEBHOOK_SECRET": SECRET})
    try:
        base = git(world.dev, "rev-parse", "HEAD")
        host_head = git(world.host, "rev-parse", "HEAD")
        head = branch_commit(world, {"stacks/web/docker-compose.yml":
                                     COMPOSE.format(image="registry.local/web:1.1")})
        opened = pull_request(service.url, "opened", 7, base, head)
        assert opened.status_code == 202, opened.text
        assert opened.json()["intents"] == ["rollout_web"]
        assert opened.json()["created"] is True
        (comment,) = github.comments[7]
        text = comment["body"]
        assert text.startswith("<!-- chatops:plan -->\n### chatops plan for `"
                               f"{head[:12]}`")
        assert "#### `rollout_web`: rollout on web" in text
        assert "| web | `registry.local/web:1.0` | `registry.local/web:1.1` |" in text
        assert "postgres" not in text  # the db's image did not change
        assert "rollout_other" not in text  # not affected
        assert "$ docker compose" in text
        assert " pull web" in text
        assert "health gates:" in text
        assert "http://127.0.0.1:18080/health" in text
        assert "on failure: roll back" in text
        assert "Waits for 1 approval(s) from discord:role:42" in text

        # Another push to the pull request: the same comment, now about the new head.
        newer = branch_commit(world, {
            "stacks/web/docker-compose.yml": COMPOSE.format(image="registry.local/web:2.0"),
            "chatops/intents/rollout_other.yaml": INTENT.replace("stack: web",
                                                                 "stack: other") + "#\n"})
        again = pull_request(service.url, "synchronize", 7, base, newer)
        assert again.status_code == 202, again.text
        assert again.json()["created"] is False
        assert again.json()["comment"] == comment["id"]
        assert len(github.comments[7]) == 1
        text = github.comments[7][0]["body"]
        assert f"chatops plan for `{newer[:12]}`" in text
        assert "`registry.local/web:1.0` | `registry.local/web:2.0` |" in text
        assert "#### `rollout_other`: rollout on other" in text
        assert [m for m, _ in github.writes] == ["POST", "PATCH"]

        # Closed, unsigned, or malformed: nothing posted; every answer audited.
        assert pull_request(service.url, "closed", 7, base, newer).json() == {
            "ignored": "pull request #7 closed"}
        assert pull_request(service.url, "opened", 8, base, newer,
                            secret="wrong").status_code == 401
        bad = httpx.post(f"{service.url}/webhooks/github", content=b'{"action": "opened"}',
                         headers={"x-github-event": "pull_request",
                                  "x-github-delivery": str(uuid.uuid4()),
                                  "x-hub-signature-256": sign(SECRET.encode(),
                                                              b'{"action": "opened"}')})
        assert bad.status_code == 422
        assert "pull_request payload" in bad.json()["error"]["message"]
        assert len(github.writes) == 2
        # Planning moved nothing: the host's checkout and the run history are as they were.
        assert git(world.host, "rev-parse", "HEAD") == host_head
        assert service.get("/runs").json()["runs"] == []
        reasons = [r["reason"] or "" for r in
                   service.get("/audit?limit=50").json()["records"]]
        assert any(r.startswith("updated the plan comment") for r in reasons)
    finally:
        service.stop()
        github.stop()


def test_chatops_plan_pr_from_the_validate_workflow(world: World, tmp_path: Path) -> None:
    github = FakeGitHub().start()
    env = {**os.environ, "CHATOPS_STATE_DIR": str(tmp_path / "state"),
           "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
           "CHATOPS_GITHUB_API": github.api}

    def plan_pr(*args: str, environ: dict[str, str] = env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "chatops", "plan", "--pr", "12",
                               "--repo", str(world.dev), *args], env=environ,
                              capture_output=True, text=True, check=False)

    try:
        base = git(world.dev, "rev-parse", "HEAD")
        branch_commit(world, {"stacks/other/docker-compose.yml":
                              COMPOSE.format(image="registry.local/o:2")})
        first = plan_pr("--base", base)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("posted the plan comment 9000 on pull request #12 "
                                       "(1 intent(s) at ")
        second = plan_pr("--base", base)
        assert second.stdout.startswith("updated the plan comment 9000")
        (comment,) = github.comments[12]
        assert "| web | `registry.local/o:1` | `registry.local/o:2` |" in comment["body"]
        printed = plan_pr("--base", base, "--no-comment")
        assert printed.stdout.startswith("<!-- chatops:plan -->")
        assert len(github.writes) == 2
        # Without GitHub's settings, or with a base that is not there: a clear refusal.
        bare = {k: v for k, v in env.items() if not k.startswith("CHATOPS_GITHUB")}
        refused = plan_pr("--base", base, environ=bare)
        assert refused.returncode == 4
        assert "set CHATOPS_FORGE_REPO" in refused.stderr
        missing = plan_pr("--base", "0123456789abcdef")
        assert missing.returncode == 2
        assert "--base: no commit '0123456789abcdef'" in missing.stderr
        both = plan_pr("--base", base, "rollout_web")
        assert both.returncode == 2
        assert "not both" in both.stderr
    finally:
        github.stop()
