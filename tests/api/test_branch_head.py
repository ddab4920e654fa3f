"""With GitHub enforcement on, a person who names no commit means the deploy branch's
head: the dashboard's Deploy and chat's /deploy and /plan fetch it, name it, and check it
like any commit; a read-only user is refused for the scope, before any commit."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import served
from tests.api.test_dashboard import add_user, csrf_of, sign_in
from tests.fakes.github import FakeGitHub
from tests.fakes.recorder import Recorder
from tests.unit.test_gitops import World

INTENT = "label_required: approved\naction: pull\nstack: web\n"
COMPOSE = "services:\n  app:\n    image: app:{tag}\n"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[served.Service, World, FakeGitHub,
                                            Ed25519PrivateKey, str]]:
    world = World.create(tmp_path, {"chatops/intents/deploy_web.yaml": INTENT,
                                    "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1")})
    head = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github = FakeGitHub().start()
    github.merged_pr(12, head, labels=["approved"], author="alice", merged_by="bob")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    platform = Recorder()
    state = tmp_path / "state"
    assert add_user(state, "ann", "read,run").returncode == 0
    assert add_user(state, "viewer", "read").returncode == 0
    service = served.start(world.host, state, env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock", "APPROVED_LABEL": "",
        "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
        "CHATOPS_GITHUB_API": github.api, "CHATOPS_DISCORD_PUBLIC_KEY": public,
        "CHATOPS_DISCORD_APPLICATION_ID": "123456789012345678",
        "CHATOPS_DISCORD_API": platform.url,
        "CHATOPS_CHAT_IDENTITIES": json.dumps({"discord:user:111": {"scopes": ["run",
                                                                               "read"]}})})
    try:
        yield service, world, github, key, head
    finally:
        service.stop()
        github.stop()
        platform.stop()


def discord(service: served.Service, key: Ed25519PrivateKey, name: str,
            **options: str) -> dict:
    body = json.dumps({"id": str(uuid.uuid4().int % 10**18), "type": 2, "token": "t",
                       "application_id": "123456789012345678",
                       "member": {"user": {"id": "111"}, "roles": []},
                       "data": {"name": name, "options": [
                           {"name": k, "value": v} for k, v in options.items()]}}).encode()
    stamp = str(int(time.time()))
    return httpx.post(service.url + "/chat/discord", content=body, timeout=30, headers={
        "content-type": "application/json", "x-signature-timestamp": stamp,
        "x-signature-ed25519": key.sign(stamp.encode() + body).hex()}).json()


def test_chat_deploy_and_plan_without_a_sha_mean_the_branch_head(setup) -> None:
    service, _, _, key, head = setup
    plan = discord(service, key, "plan", intent="deploy_web")["data"]["content"]
    assert f"at commit `{head[:12]}` (the deploy branch's head)" in plan
    assert "commit_required" not in plan
    answer = discord(service, key, "deploy", intent="deploy_web")["data"]["content"]
    assert answer.startswith(f"🚀 deploying deploy_web at commit `{head[:12]}` (the deploy "
                             "branch's head)"), answer
    run = service.get("/runs").json()["runs"][0]
    assert run["sha"] == head
    assert run["pull_request"]["number"] == 12


def test_chat_deploy_of_an_unlabelled_head_is_refused(setup) -> None:
    service, world, _, key, _ = setup
    world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v3")})
    answer = discord(service, key, "deploy", intent="deploy_web")["data"]["content"]
    assert answer.startswith("⛔")
    assert "no pull request merged commit" in answer
    assert service.get("/runs").json()["runs"] == []


def test_the_dashboard_deploys_the_head_it_named_on_the_confirmation_page(setup) -> None:
    service, world, _, _, head = setup
    client, _ = sign_in(service, "ann")
    page = client.get("/ui/intents/deploy_web/deploy")
    assert page.status_code == 200, page.text
    assert f"It deploys commit <code>{head[:12]}</code>, the head of <code>main</code>" \
        in page.text
    # A push after the confirmation is not deployed unseen.
    world.commit({"README.md": "later\n"})
    done = client.post("/ui/intents/deploy_web/deploy",
                       data={"csrf": csrf_of(page.text), "sha": head})
    assert done.status_code == 303, done.text
    run_id = done.headers["location"].rsplit("/", 1)[1]
    assert service.get(f"/runs/{run_id}").json()["sha"] == head


def test_a_read_only_user_is_refused_for_the_scope_not_the_commit(setup) -> None:
    service, _, _, _, _ = setup
    client, _ = sign_in(service, "viewer")
    page = client.get("/ui/intents/deploy_web/deploy")
    refused = client.post("/ui/intents/deploy_web/deploy",
                          data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403
    assert "may not start runs" in refused.text
    rows = service.get("/audit?limit=20").json()["records"]
    reasons = [r["reason"] or "" for r in rows if r["intent"] == "deploy_web"]
    assert any(r.startswith("scope_denied") for r in reasons), reasons
    assert not any("commit_required" in r for r in reasons)
