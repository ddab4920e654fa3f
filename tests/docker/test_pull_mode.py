"""Pull mode on the real engine and real Git: the service fetches the deploy branch on an
interval (no webhook reaches it), deploys a labelled merge, refuses an unlabelled one
once, and announces a fetch that keeps failing once, then its recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import served
from tests.docker.conftest import docker, free_port, http_get, wait_for_http
from tests.docker.test_gitops_e2e import compose, intent
from tests.fakes.github import FakeGitHub
from tests.fakes.json_target import JsonTarget
from tests.policy_kit import LOOPBACK_POLICY
from tests.unit.test_gitops import World, git

pytestmark = pytest.mark.docker


def audit(service: served.Service) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "chatops", "audit", "tail", "-n", "50",
                           "--format", "json"], env=service.env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def until(check, deadline: float = 30.0, explain=lambda: "") -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within the deadline: {explain()}")


def test_pull_mode_deploys_labelled_merges_refuses_others_and_watches_its_fetch(
        engine, images, tmp_path: Path) -> None:
    stack, port = f"pull-{uuid.uuid4().hex[:8]}", free_port()
    name = f"deploy_{stack.replace('-', '_')}"
    v1, v2 = images("v1"), images("v2")
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, v1, port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/{name}.yaml": intent(stack, port)})
    github = FakeGitHub().start()
    chat = JsonTarget()
    service = served.start(world.host, tmp_path / "state", env={
        "APPROVED_LABEL": "approved-by-gemini", "CHATOPS_POLL_INTERVAL": "1s",
        "CHATOPS_FETCH_ALERT_AFTER": "2", "CHATOPS_STABILITY_WINDOW": "0.5s",
        "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
        "CHATOPS_GITHUB_API": github.api, "CHATOPS_NOTIFY_URLS": chat.url})
    try:
        # A labelled merge: pull mode finds it and deploys it, with no webhook.
        merged = world.commit({f"stacks/{stack}/docker-compose.yml":
                               compose(stack, v2, port)}, "v2")
        github.merged_pr(2, merged, labels=["approved-by-gemini"])
        assert wait_for_http(f"http://127.0.0.1:{port}/version", "v2", 60).strip() == "v2"
        until(lambda: git(world.host, "rev-parse", "HEAD") == merged)
        runs = service.get("/runs").json()["runs"]
        assert runs[0]["trigger"] == "poll"
        assert "(pull mode)" in runs[0]["actor"]

        # An unlabelled one: refused, once, and nothing changes.
        unlabelled = world.commit({f"stacks/{stack}/docker-compose.yml":
                                   compose(stack, v1, port)}, "back to v1, unreviewed")
        github.merged_pr(3, unlabelled, labels=["needs-review"])
        until(lambda: any((r["reason"] or "").startswith("label_not_approved")
                          for r in audit(service)))
        time.sleep(3.5)  # three more polls
        refusals = [r for r in audit(service)
                    if (r["reason"] or "").startswith("label_not_approved")]
        assert len(refusals) == 1, refusals
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v2"
        # The drift view says why the commit did not run, not just that it did not.
        undeployed = [d["message"] for d in service.get("/drift").json()["drift"]
                      if d["kind"] == "undeployed"]
        assert len(undeployed) == 1, undeployed
        assert undeployed[0].startswith(f"{unlabelled[:12]} 'back to v1, unreviewed' for "
                                        f"{name}: refused: label_not_approved"), undeployed

        # The remote goes away: after 2 failed fetches, one alert; then one recovery.
        away = world.remote.with_name("remote-away.git")
        world.remote.rename(away)
        chat.wait_for("ALERT: fetching main from origin has failed 2 times in a row")
        time.sleep(2.5)
        away.rename(world.remote)
        chat.wait_for("RECOVERED: fetching main from origin works again")
        texts = [json.dumps(b) for b in chat.received]
        assert sum("ALERT: fetching main" in t for t in texts) == 1
        assert sum("RECOVERED: fetching main" in t for t in texts) == 1
        decisions = [r["decision"] for r in audit(service)]
        assert "fetch_failing" in decisions
        assert "fetch_recovered" in decisions
    finally:
        service.stop()
        github.stop()
        chat.server.shutdown()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)


def test_a_rolled_back_merge_gets_a_revert_pull_request_and_is_never_redeployed(
        engine, images, tmp_path: Path) -> None:
    stack, port = f"rev-{uuid.uuid4().hex[:8]}", free_port()
    name = f"deploy_{stack.replace('-', '_')}"
    v1, bad = images("v1"), images("bad500")
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, v1, port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/{name}.yaml": intent(stack, port)})
    github = FakeGitHub().start()
    first = git(world.dev, "rev-parse", "HEAD")
    github.merged_pr(1, first, labels=["approved-by-gemini"])
    service = served.start(world.host, tmp_path / "state", env={
        "APPROVED_LABEL": "approved-by-gemini", "CHATOPS_POLL_INTERVAL": "1s",
        "CHATOPS_STABILITY_WINDOW": "0.5s", "CHATOPS_REVERT_PR": "true",
        "CHATOPS_RECONCILE_INTERVAL": "1s", "CHATOPS_GITHUB_REPO": github.repo,
        "CHATOPS_GITHUB_TOKEN": github.token, "CHATOPS_GITHUB_API": github.api})
    try:
        first_run = service.post("/run", {"name": name, "sha": first, "wait": True})
        assert first_run.status_code == 200, first_run.text
        broken = world.commit({f"stacks/{stack}/docker-compose.yml":
                               compose(stack, bad, port)}, "a bad image")
        github.merged_pr(7, broken, labels=["approved-by-gemini"])
        until(lambda: any(r["decision"] == "revert_pr" for r in audit(service)), 90,
              lambda: [(r["decision"], r["reason"]) for r in audit(service)][-8:])
        runs = service.get("/runs").json()["runs"]
        assert runs[0]["status"] == "rolled_back"
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"
        made = dict(github.created)
        parent_tree = git(world.dev, "rev-parse", f"{broken}^1^{{tree}}")
        assert made["git/commits"]["tree"] == parent_tree
        assert made["git/commits"]["parents"] == [broken]
        assert made["git/refs"]["ref"] == f"refs/heads/chatops/revert-{broken[:12]}"
        assert made["pulls"]["base"] == "main"
        assert made["pulls"]["title"].startswith(f"Revert {broken[:12]}: run {runs[0]['id']}")
        assert "merged by pull request #7" in made["pulls"]["body"]
        log = service.get(f"/runs/{runs[0]['id']}/log").text
        assert "opened revert pull request #" in log
        # The drift view says the commit is rolled back, with its revert open.
        drift = service.get("/drift").json()["drift"]
        assert any(d["kind"] == "run" and "ended rolled_back; revert pull request #"
                   in d["message"] and "is open to revert its commit" in d["message"]
                   for d in drift), drift
        time.sleep(4)  # more polls and reconcile passes: the bad commit is not run again
        assert len(service.get("/runs").json()["runs"]) == len(runs)
    finally:
        service.stop()
        github.stop()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)


@pytest.mark.parametrize("kind", ["gitea", "gitlab"])
def test_other_forges_get_a_revert_pushed_by_git_and_a_failure_status(
        engine, images, tmp_path: Path, kind: str) -> None:
    """Gitea, Forgejo and GitLab cannot make a commit from a tree through their API:
    chatops pushes the revert commit (made from Git objects, the checkout unmoved) and
    opens the pull (merge) request from it; the bad commit's status ends failure."""
    from tests.fakes.forges import FakeGitea, FakeGitLab

    stack, port = f"rv{kind}-{uuid.uuid4().hex[:6]}", free_port()
    name = f"deploy_{stack.replace('-', '_')}"
    v1, bad = images("v1"), images("bad500")
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, v1, port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/{name}.yaml": intent(stack, port)})
    forge = (FakeGitea() if kind == "gitea" else FakeGitLab()).start()
    first = git(world.dev, "rev-parse", "HEAD")
    forge.merged_pr(1, first, labels=["approved-by-gemini"])
    service = served.start(world.host, tmp_path / "state", env={
        "APPROVED_LABEL": "approved-by-gemini", "CHATOPS_POLL_INTERVAL": "1s",
        "CHATOPS_STABILITY_WINDOW": "0.5s", "CHATOPS_REVERT_PR": "true",
        "CHATOPS_FORGE": kind, "CHATOPS_FORGE_REPO": forge.repo,
        "CHATOPS_FORGE_TOKEN": forge.token, "CHATOPS_FORGE_URL": forge.url})
    try:
        first_run = service.post("/run", {"name": name, "sha": first, "wait": True})
        assert first_run.status_code == 200, first_run.text
        broken = world.commit({f"stacks/{stack}/docker-compose.yml":
                               compose(stack, bad, port)}, "a bad image")
        forge.merged_pr(7, broken, labels=["approved-by-gemini"])
        until(lambda: any(r["decision"] == "revert_pr" for r in audit(service)), 90,
              lambda: [(r["decision"], r["reason"]) for r in audit(service)][-8:])
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"
        branch = f"chatops/revert-{broken[:12]}"
        (opened,) = forge.created
        assert (opened.get("head") or opened.get("source_branch")) == branch
        assert (opened.get("base") or opened.get("target_branch")) == "main"
        pushed = git(world.dev, "ls-remote", "origin", f"refs/heads/{branch}").split()[0]
        assert git(world.remote, "rev-parse", f"{pushed}^{{tree}}") == git(
            world.remote, "rev-parse", f"{broken}^1^{{tree}}")
        assert git(world.remote, "rev-parse", f"{pushed}^") == broken
        assert git(world.host, "rev-parse", "HEAD") == broken  # the checkout never moved
        until(lambda: [b["state"] for s, b in forge.statuses if s == broken][-1:]
              in (["failure"], ["failed"]), 10, lambda: forge.statuses)
    finally:
        service.stop()
        forge.stop()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)


def test_pull_mode_refuses_a_force_pushed_branch_once(engine, tmp_path: Path) -> None:
    """A branch rewritten under the deployed commit: refused as a pushed one is (the same
    check, in ``deploy_push``), once, and the checkout stays where it was."""
    world = World.create(tmp_path, {"chatops/intents/deploy_web.yaml":
                                    "label_required: approved\naction: rollout\nstack: web\n",
                                    "stacks/web/docker-compose.yml":
                                    "services:\n  web:\n    image: nginx:1\n"})
    deployed = git(world.host, "rev-parse", "HEAD")
    service = served.start(world.host, tmp_path / "state",
                           env={"CHATOPS_POLL_INTERVAL": "1s"})
    try:
        git(world.dev, "commit", "-q", "--amend", "-m", "rewritten")
        git(world.dev, "push", "-q", "-f", "origin", "HEAD:main")
        until(lambda: any((r["reason"] or "").startswith("force_push_refused")
                          for r in audit(service)))
        time.sleep(2.5)  # more polls
        refusals = [r for r in audit(service)
                    if (r["reason"] or "").startswith("force_push_refused")]
        assert len(refusals) == 1, refusals
        assert "which does not contain it" in refusals[0]["reason"]
        assert git(world.host, "rev-parse", "HEAD") == deployed
        assert service.get("/runs").json()["runs"] == []
    finally:
        service.stop()
