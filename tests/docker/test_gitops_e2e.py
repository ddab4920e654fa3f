"""End to end: a labelled PR's merge reaches `chatops serve` as a signed push webhook, and
the new image answers; without the label nothing changes and the refusal is audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from chatops.gitops.forges.github import sign
from tests.docker.conftest import docker, free_port, http_get, wait_for_http
from tests.fakes.github import FakeGitHub
from tests.policy_kit import LOOPBACK_POLICY
from tests.unit.test_gitops import World, git

pytestmark = pytest.mark.docker

SECRET = "e2e-webhook-secret-" + uuid.uuid4().hex
KEY = "e2e-key-" + uuid.uuid4().hex


def compose(name: str, image: str, port: int) -> str:
    return (f"name: {name}\nservices:\n  web:\n    image: {image}\n    network_mode: host\n"
            f"    init: true\n    environment:\n      PORT: \"{port}\"\n")


def intent(stack: str, port: int) -> str:
    return (f"label_required: approved-by-gemini\naction: rollout\nstack: {stack}\n"
            f"service: web\nhealth:\n  - http: http://127.0.0.1:{port}/cgi-bin/health\n"
            "    within: 20s\n    interval: 100ms\n")


def webhook(url: str, before: str, after: str) -> tuple[int, dict]:
    body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                       "forced": False, "sender": {"login": "alice"}}).encode()
    req = urllib.request.Request(  # noqa: S310 - a loopback http:// URL
        f"{url}/webhooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET.encode(), body)})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_labelled_merge_deploys_and_unlabelled_is_refused(engine, images, tmp_path: Path
                                                          ) -> None:
    stack, port = f"e2e-{uuid.uuid4().hex[:8]}", free_port()
    v1, v2, v3 = images("v1"), images("v2"), images("v3")
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, v1, port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/deploy_{stack.replace('-', '_')}.yaml": intent(stack, port)})
    host = world.host
    base = git(world.dev, "rev-parse", "HEAD")
    github = FakeGitHub().start()
    github.merged_pr(1, base, labels=["approved-by-gemini"])
    api_port = free_port()
    env = {**os.environ, "CHATOPS_API_KEY": KEY, "CHATOPS_STATE_DIR": str(tmp_path / "state"),
           "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
           "CHATOPS_GITHUB_API": github.api, "CHATOPS_GITHUB_WEBHOOK_SECRET": SECRET,
           "CHATOPS_STABILITY_WINDOW": "0.5s"}
    proc = subprocess.Popen([sys.executable, "-m", "chatops", "serve", "--repo", str(host),
                             "--port", str(api_port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{api_port}"
    try:
        for _ in range(100):
            try:
                if http_get(url + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        status, body = webhook(url, "0" * 40, base)
        assert (status, body["intents"]) == (202, [f"deploy_{stack.replace('-', '_')}"]), body
        assert wait_for_http(f"http://127.0.0.1:{port}/version", "v1", 60).strip() == "v1"

        merged = world.commit({f"stacks/{stack}/docker-compose.yml": compose(stack, v2, port)},
                              "v2")
        github.merged_pr(2, merged, labels=["approved-by-gemini"])
        status, body = webhook(url, base, merged)
        assert status == 202, body
        assert wait_for_http(f"http://127.0.0.1:{port}/version", "v2", 60).strip() == "v2"

        unlabelled = world.commit(
            {f"stacks/{stack}/docker-compose.yml": compose(stack, v3, port)}, "v3")
        github.merged_pr(3, unlabelled, labels=["needs-review"])
        status, body = webhook(url, merged, unlabelled)
        assert status == 403
        assert body["error"]["code"] == "label_not_approved"
        time.sleep(1.0)
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v2"
        head = git(host, "rev-parse", "HEAD")
        assert head == merged
        audit = subprocess.run([sys.executable, "-m", "chatops", "audit", "tail", "-n", "5",
                                "--format", "json"], env=env, capture_output=True, text=True,
                               check=True)
        reasons = [r["reason"] or "" for r in json.loads(audit.stdout)]
        assert any(r.startswith("label_not_approved") and "#3" in r for r in reasons)
    finally:
        proc.terminate()
        proc.wait(60)
        github.stop()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)


def test_a_run_on_the_host_tells_the_forge_its_outcome(cli, engine, images, tmp_path: Path,
                                                       monkeypatch) -> None:
    """``chatops run --sha`` in its own process (no service): the commit status is pending,
    then success, before the command exits."""
    stack, port = f"st-{uuid.uuid4().hex[:8]}", free_port()
    name = f"deploy_{stack.replace('-', '_')}"
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, images("v1"), port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/{name}.yaml": intent(stack, port)})
    sha = git(world.dev, "rev-parse", "HEAD")
    github = FakeGitHub().start()
    github.merged_pr(3, sha, labels=["approved-by-gemini"])
    for key, value in {"CHATOPS_FORGE_REPO": github.repo, "CHATOPS_FORGE_TOKEN": github.token,
                       "CHATOPS_FORGE_URL": github.api, "APPROVED_LABEL": "approved-by-gemini",
                       "CHATOPS_STABILITY_WINDOW": "0.5s"}.items():
        monkeypatch.setenv(key, value)
    try:
        result = cli("run", name, "--repo", str(world.host), "--sha", sha, "--local")
        assert result.code == 0, result.out + result.err
        states = [(body["context"], body["state"]) for s, body in github.statuses if s == sha]
        assert states == [(f"chatops/deploy/{name}", "pending"),
                          (f"chatops/deploy/{name}", "success")]
    finally:
        github.stop()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)
