"""Every forge, the same rules: GitHub, Gitea (Forgejo) and GitLab stand-ins on loopback
that speak each one's documented endpoints, webhooks signed as each one signs them, and
real Git. A labelled merge deploys and its commit status ends success; an unlabelled one
is refused naming the pull request; a label its author added, or added before the last
push, or by someone ``label_by`` does not allow, is refused naming who added it; the plan
comment is made once, then edited; a token that lacks a permission is named."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chatops.gitops.sync import RepoSync
from tests.api.conftest import INTENT
from tests.api.test_webhook import wait_runs
from tests.fakes.forges import FakeGitea, FakeGitLab
from tests.fakes.github import FakeGitHub
from tests.unit.test_gitops import World, git

SECRET = "forge-webhook-secret-" + uuid.uuid4().hex[:8]
COMPOSE = "services:\n  app:\n    image: app:{tag}\n"
ZERO = "0" * 40


@dataclass
class Stand:
    """A forge stand-in, the settings that point chatops at it, and its webhooks."""

    kind: str
    fake: Any

    def settings(self) -> dict[str, Any]:
        url = self.fake.api if self.kind == "github" else self.fake.url
        return {"forge": self.kind, "forge_repo": self.fake.repo,
                "forge_token": self.fake.token, "forge_url": url,
                "forge_webhook_secret": SECRET, "approved_labels": ""}

    def headers(self, event: str, raw: bytes, delivery: str, secret: str) -> dict[str, str]:
        signed = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        if self.kind == "github":
            return {"x-github-event": event, "x-github-delivery": delivery,
                    "x-hub-signature-256": f"sha256={signed}"}
        if self.kind == "gitea":  # Forgejo sends its own names: both are read
            return {"x-forgejo-event": event, "x-forgejo-delivery": delivery,
                    "x-forgejo-signature": signed}
        return {"x-gitlab-event": {"push": "Push Hook",
                                   "pull_request": "Merge Request Hook"}[event],
                "x-gitlab-event-uuid": delivery, "x-gitlab-token": secret}

    def push(self, before: str, after: str) -> dict[str, Any]:
        """A push payload as the forge sends it (the fields chatops reads, and others)."""
        if self.kind == "gitlab":
            return {"object_kind": "push", "event_name": "push", "before": before,
                    "after": after, "ref": "refs/heads/main", "user_username": "alice",
                    "project": {"path_with_namespace": self.fake.repo},
                    "commits": [{"id": after}], "total_commits_count": 1}
        return {"ref": "refs/heads/main", "before": before, "after": after,
                "compare_url": "", "commits": [{"id": after}],
                "repository": {"full_name": self.fake.repo},
                "pusher": {"login": "alice", "username": "alice"},
                "sender": {"login": "alice", "username": "alice"}}

    def pull(self, number: int, base: str, head: str, *, opened: bool) -> dict[str, Any]:
        if self.kind == "gitlab":
            attrs = {"iid": number, "action": "open" if opened else "update",
                     "target_branch": "main", "source_branch": "feature",
                     "last_commit": {"id": head}, "state": "opened"}
            if not opened:
                attrs["oldrev"] = base
            return {"object_kind": "merge_request", "user": {"username": "dev"},
                    "project": {"path_with_namespace": self.fake.repo},
                    "object_attributes": attrs}
        action = "opened" if opened else ("synchronize" if self.kind == "github"
                                          else "synchronized")
        return {"action": action, "number": number, "pull_request": {
            "number": number, "base": {"ref": "main", "sha": base},
            "head": {"ref": "feature", "sha": head}}}

    def deliver(self, api, event: str, body: object, *, secret: str = SECRET,
                delivery: str | None = None):
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json",
                   **self.headers(event, raw, delivery or str(uuid.uuid4()), secret)}
        return api.client.post(f"/webhooks/{self.kind}", content=raw, headers=headers)

    def statuses(self, sha: str) -> list[tuple[str, str]]:
        """(context, state) of each status chatops set on ``sha``."""
        return [(b.get("context") or b.get("name"), b["state"])
                for s, b in self.fake.statuses if s == sha]


@pytest.fixture(params=["github", "gitea", "gitlab"])
def stand(request) -> Iterator[Stand]:
    fake = {"github": FakeGitHub, "gitea": FakeGitea, "gitlab": FakeGitLab}[request.param]()
    fake.start()
    yield Stand(request.param, fake)
    fake.stop()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, {"chatops/intents/deploy_web.yaml": INTENT,
                                   "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1")})


def served(make_api, world: World, stand: Stand, **extra: Any):
    return make_api(repo=world.host, **{**stand.settings(), **extra})


def merge(world: World, stand: Stand, number: int, **labelled: Any) -> tuple[str, str]:
    """A change to the web stack merged by pull request ``number``: (before, after)."""
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    stand.fake.merged_pr(number, after, **{"labels": ["approved"], **labelled})
    return before, after


def refusal(resp) -> str:
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "label_not_approved"
    return str(resp.json()["error"]["message"])


def test_a_labelled_merge_deploys_and_its_commit_status_ends_success(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 5)

    resp = stand.deliver(api, "push", stand.push(before, after))

    assert resp.status_code == 202, resp.text
    assert resp.json() == {"sha": after, "intents": ["deploy_web"]}
    (run,) = wait_runs(api, 1)
    assert (run["status"], run["sha"], run["actor"]) == ("succeeded", after, "alice")
    assert run["pull_request"]["number"] == 5
    assert RepoSync(world.host).head() == after
    end = time.monotonic() + 5
    while len(stand.statuses(after)) < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert stand.statuses(after) == [("chatops/deploy/deploy_web", "pending"),
                                     ("chatops/deploy/deploy_web", "success")]


def test_an_unlabelled_merge_is_refused_naming_the_pull_request(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 6, labels=["docs"])
    message = refusal(stand.deliver(api, "push", stand.push(before, after)))
    assert "pull request #6 does not carry the label 'approved'" in message
    assert RepoSync(world.host).head() == before
    assert api.get("/runs").json()["runs"] == []


def test_a_label_its_author_added_is_refused_naming_them(make_api, world: World,
                                                          stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 7, author="dev", labeller="dev")
    message = refusal(stand.deliver(api, "push", stand.push(before, after)))
    assert ("the label 'approved' on pull request #7 was added by dev, the pull "
            "request's author") in message
    assert RepoSync(world.host).head() == before
    # ... unless the intent says its authors may approve their own changes.
    world.commit({"chatops/intents/deploy_web.yaml": INTENT + "self_approve: true\n"})
    newer = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v3")})
    stand.fake.merged_pr(8, newer, labels=["approved"], author="dev", labeller="dev")
    resp = stand.deliver(api, "push", stand.push(before, newer))
    assert resp.status_code == 202, resp.text


def test_a_push_after_the_label_voids_it(make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 9, labelled_at="2026-11-26T13:00:00Z",
                          pushed_at="2026-11-26T13:30:00Z")
    message = refusal(stand.deliver(api, "push", stand.push(before, after)))
    assert "was added by reviewer at 2026-11-26 13:00:00 UTC, before the last push " \
           "(2026-11-26 13:30:00 UTC)" in message


def test_label_by_names_who_may_approve(make_api, world: World, stand: Stand) -> None:
    group = "homelab/ops"
    rule = "group:homelab/ops" if stand.kind == "gitlab" else "team:homelab/ops"
    world.commit({"chatops/intents/deploy_web.yaml":
                  INTENT + f"label_by: [\"{rule}\", \"user:lead\"]\n"})
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 10, labeller="reviewer")
    message = refusal(stand.deliver(api, "push", stand.push(before, after)))
    assert f"was added by reviewer, who does not match label_by ({rule}, user:lead)" \
        in message
    stand.fake.teams[group] = {"reviewer"}
    resp = stand.deliver(api, "push", stand.push(before, after))
    assert resp.status_code == 202, resp.text


def test_without_label_by_anyone_with_write_permission_may_approve(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 11, labeller="outsider")
    message = refusal(stand.deliver(api, "push", stand.push(before, after)))
    assert "was added by outsider, who does not match label_by (permission:write)" in message
    # CHATOPS_LABEL_BY=any: whoever added it, as before.
    anyone = served(make_api, world, stand, label_by="any")
    assert stand.deliver(anyone, "push", stand.push(before, after)).status_code == 202


def test_a_token_without_the_needed_permission_is_named(make_api, world: World,
                                                        stand: Stand) -> None:
    api = served(make_api, world, stand)
    before, after = merge(world, stand, 12, labeller="lead")  # not who merged: asked
    stand.fake.deny = {"collaborators", "members"}
    resp = stand.deliver(api, "push", stand.push(before, after))
    assert resp.status_code == 503, resp.text
    message = resp.json()["error"]["message"]
    assert "refused the token (403)" in message
    assert "CHATOPS_FORGE_TOKEN needs " in message
    assert RepoSync(world.host).head() == before


def test_the_label_history_is_read_once_per_pull_request_and_head(
        make_api, tmp_path: Path, stand: Stand) -> None:
    (tmp_path / "two").mkdir()
    world = World.create(tmp_path / "two", {
        "chatops/intents/deploy_web.yaml": INTENT,
        "chatops/intents/deploy_api.yaml": INTENT.replace("stack: web", "stack: api"),
        "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1"),
        "stacks/api/docker-compose.yml": COMPOSE.format(tag="v1")})
    api = served(make_api, world, stand)
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2"),
                          "stacks/api/docker-compose.yml": COMPOSE.format(tag="v2")})
    stand.fake.merged_pr(13, after, labels=["approved"])
    stand.fake.requests.clear()
    resp = stand.deliver(api, "push", stand.push(before, after))
    assert resp.status_code == 202, resp.text
    assert sorted(resp.json()["intents"]) == ["deploy_api", "deploy_web"]
    wait_runs(api, 2)
    history = {"github": "/events", "gitea": "/timeline", "gitlab": "/resource_label_events"}
    asked = [r for r in stand.fake.requests if history[stand.kind] in r]
    assert len(asked) == 1, stand.fake.requests
    # Who labelled, for both runs: the history, when the head was pushed (GitHub's
    # activity, GitLab's versions; Gitea's timeline has it); the labeller merged it, so
    # their write permission is not asked.
    who = {"github": ("/events", "/activity"), "gitea": ("/timeline",),
           "gitlab": ("/resource_label_events", "/versions")}[stand.kind]
    extra = [r for r in stand.fake.requests
             if any(part in r for part in (*who, "/collaborators/", "/members/"))]
    assert len(extra) == len(who), stand.fake.requests


#: Where each forge says when a head was pushed, when that is a request of its own.
PUSH_TIME = {"github": "/activity", "gitea": None, "gitlab": "/versions"}
HISTORY = {"github": "/events", "gitea": "/timeline", "gitlab": "/resource_label_events"}


def test_a_head_seen_in_a_pull_request_event_needs_no_request_for_its_push_time(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    opened = stand.deliver(api, "pull_request", stand.pull(22, before, after, opened=True))
    assert opened.status_code == 202, opened.text
    # Labelled (by the reviewer who merged it) well after chatops saw the head.
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stand.fake.merged_pr(22, after, labels=["approved"], labelled_at=later)
    stand.fake.requests.clear()
    resp = stand.deliver(api, "push", stand.push(before, after))
    assert resp.status_code == 202, resp.text
    wait_runs(api, 1)
    asked = [r for r in stand.fake.requests if HISTORY[stand.kind] in r]
    assert len(asked) == 1, stand.fake.requests  # the one request the check adds
    push_time = PUSH_TIME[stand.kind]
    assert push_time is None or not [r for r in stand.fake.requests if push_time in r]


def test_a_label_older_than_the_sighting_is_checked_against_the_forges_push_time(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    assert stand.deliver(api, "pull_request",
                         stand.pull(23, before, after, opened=True)).status_code == 202
    # Labelled an hour after the push, days before chatops saw the head: the forge says.
    stand.fake.merged_pr(23, after, labels=["approved"])
    stand.fake.requests.clear()
    assert stand.deliver(api, "push", stand.push(before, after)).status_code == 202
    wait_runs(api, 1)
    push_time = PUSH_TIME[stand.kind]
    assert push_time is None or [r for r in stand.fake.requests if push_time in r]


def test_the_plan_comment_is_made_once_then_edited(make_api, world: World,
                                                   stand: Stand) -> None:
    api = served(make_api, world, stand)
    base = git(world.dev, "rev-parse", "HEAD")
    git(world.dev, "checkout", "-q", "-b", "feature")
    (world.dev / "stacks/web/docker-compose.yml").write_text(COMPOSE.format(tag="v2"))
    git(world.dev, "commit", "-qam", "v2")
    git(world.dev, "push", "-q", "origin", "HEAD:feature")
    head = git(world.dev, "rev-parse", "HEAD")

    opened = stand.deliver(api, "pull_request", stand.pull(14, base, head, opened=True))

    assert opened.status_code == 202, opened.text
    assert (opened.json()["intents"], opened.json()["created"]) == (["deploy_web"], True)
    (comment,) = stand.fake.comments[14]
    assert "| app | `app:v1` | `app:v2` |" in comment["body"]
    (world.dev / "stacks/web/docker-compose.yml").write_text(COMPOSE.format(tag="v3"))
    git(world.dev, "commit", "-qam", "v3")
    git(world.dev, "push", "-q", "origin", "HEAD:feature")
    newer = git(world.dev, "rev-parse", "HEAD")
    again = stand.deliver(api, "pull_request", stand.pull(14, base, newer, opened=False))
    assert again.status_code == 202, again.text
    assert (again.json()["created"], again.json()["comment"]) == (False, comment["id"])
    assert len(stand.fake.comments[14]) == 1
    assert "| app | `app:v1` | `app:v3` |" in stand.fake.comments[14][0]["body"]


def test_deliveries_that_are_not_the_forges_are_refused(make_api, world: World,
                                                        stand: Stand) -> None:
    api = served(make_api, world, stand)
    body = stand.push("a" * 40, "b" * 40)
    wrong = stand.deliver(api, "push", body, secret="not-the-secret")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "bad_signature")
    before, after = merge(world, stand, 15)
    first = stand.deliver(api, "push", stand.push(before, after), delivery="d-15")
    assert first.status_code == 202, first.text
    again = stand.deliver(api, "push", stand.push(before, after), delivery="d-15")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "replayed_delivery")
    other = "gitlab" if stand.kind != "gitlab" else "gitea"
    elsewhere = api.client.post(f"/webhooks/{other}", content=b"{}")
    assert elsewhere.status_code == 404
    assert f"its webhook is /webhooks/{stand.kind}" in elsewhere.json()["error"]["message"]
    unsigned = api.client.post(f"/webhooks/{stand.kind}", content=b"{}")
    assert unsigned.status_code == 401
    audited = [r["decision"] for r in api.audit_rows()]
    assert audited.count("refused") >= 4


def test_the_compose_policy_refuses_a_merge_before_approval_is_asked(
        make_api, world: World, stand: Stand) -> None:
    """A merged, labelled change that mounts the engine's socket: refused by the policy,
    naming the file, service, field and rule; nothing moves; the forge is not asked."""
    api = served(make_api, world, stand)
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")
                          + "    volumes: [/var/run/docker.sock:/var/run/docker.sock]\n"})
    stand.fake.merged_pr(16, after, labels=["approved"])
    stand.fake.requests.clear()

    resp = stand.deliver(api, "push", stand.push(before, after))

    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "policy_refused"
    assert ("stacks/web/docker-compose.yml: service app: volumes[0]: the engine's socket "
            "/var/run/docker.sock is mounted (root on the host) (rule docker_socket)") \
        in resp.json()["error"]["message"]
    assert RepoSync(world.host).head() == before
    assert stand.fake.requests == []
    named = api.post_run({"name": "deploy_web", "sha": after})
    assert named.json()["error"]["code"] == "policy_refused"
    # An exception in the repository's policy, named by the intent, lifts it.
    allowed = world.commit({
        "chatops/policy.yaml": "exceptions:\n  - name: socket\n    match: {stacks: [web]}\n"
                               "    allow: [docker_socket]\n",
        "chatops/intents/deploy_web.yaml": INTENT + "policy_exceptions: [socket]\n"})
    stand.fake.merged_pr(17, allowed, labels=["approved"])
    resp = stand.deliver(api, "push", stand.push(before, allowed))
    assert resp.status_code == 202, resp.text


def test_the_plan_comment_says_what_the_policy_refuses(make_api, world: World,
                                                       stand: Stand) -> None:
    api = served(make_api, world, stand)
    base = git(world.dev, "rev-parse", "HEAD")
    git(world.dev, "checkout", "-q", "-b", "feature")
    (world.dev / "stacks/web/docker-compose.yml").write_text(
        COMPOSE.format(tag="v2") + "    privileged: true\n    volumes: [\"/:/host\"]\n")
    git(world.dev, "commit", "-qam", "root")
    git(world.dev, "push", "-q", "origin", "HEAD:feature")
    head = git(world.dev, "rev-parse", "HEAD")
    opened = stand.deliver(api, "pull_request", stand.pull(18, base, head, opened=True))
    assert opened.status_code == 202, opened.text
    body = stand.fake.comments[18][0]["body"]
    assert "⛔ The compose policy (`chatops/policy.yaml`) refuses this" in body
    assert "- stacks/web/docker-compose.yml: service app: privileged: privileged: True " \
           "(rule privileged)" in body
    assert "volumes[0]: the host's / is mounted (rule root_mount)" in body


def test_a_reviewers_permission_is_asked_once_for_several_merges(
        make_api, world: World, stand: Stand) -> None:
    api = served(make_api, world, stand)
    stand.fake.permissions["lead"] = "admin"
    before, after = merge(world, stand, 19, labeller="lead")  # not who merged: asked
    assert stand.deliver(api, "push", stand.push(before, after)).status_code == 202
    wait_runs(api, 1)
    assert [r for r in stand.fake.requests if "/collaborators/" in r or "/members/" in r]
    newer = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v3")})
    stand.fake.merged_pr(20, newer, labels=["approved"], labeller="lead")
    stand.fake.requests.clear()
    assert stand.deliver(api, "push", stand.push(after, newer)).status_code == 202
    wait_runs(api, 2)
    asked = [r for r in stand.fake.requests if "/collaborators/" in r or "/members/" in r]
    assert asked == [], stand.fake.requests
    # ... while a labeller without the permission is asked each time (never remembered).
    stand.fake.permissions["outsider"] = "read"
    last = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v4")})
    stand.fake.merged_pr(21, last, labels=["approved"], labeller="outsider")
    for _ in range(2):
        refusal(stand.deliver(api, "push", stand.push(newer, last)))
    asked = [r for r in stand.fake.requests if "/collaborators/" in r or "/members/" in r]
    assert len(asked) == 2, stand.fake.requests
