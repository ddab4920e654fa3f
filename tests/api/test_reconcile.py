"""Reconcile: drift told once (and when resolved), healed once by running the intent
again, and never healed after a failed run, however many passes."""

from __future__ import annotations

import time

import pytest

from chatops.application.asks import RunAsk
from chatops.errors import GitHubError
from chatops.server.schedules import RECONCILER, SCHEDULER
from tests.api.conftest import GOOD, INTENT


def _deploys(api):
    app = api.client.app
    while not hasattr(app, "state"):  # under the guard and the connection limits
        app = app.app
    return app.state.services.deploys


def passes(api, count: int) -> None:
    deploys = _deploys(api)
    for _ in range(count):
        api.client.portal.call(deploys.reconcile, RECONCILER, api.engine)


def audited(api, decision: str) -> list[dict]:
    return [r for r in api.audit.tail(500) if r["decision"] == decision]


def runs_of(api) -> list[dict]:
    return api.client.get("/runs", headers={"x-api-key": GOOD}).json()["runs"]


def wait_runs(api, count: int) -> list[dict]:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        runs = runs_of(api)
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return runs
        time.sleep(0.05)
    raise AssertionError(runs_of(api))


def test_heal_puts_a_removed_container_back_once_and_tells_it(make_api) -> None:
    api = make_api(intents={"deploy_web": INTENT + "reconcile: heal\n"})
    assert api.post_run({"name": "deploy_web", "wait": True}).status_code == 200
    passes(api, 3)
    assert audited(api, "drift") == []  # nothing differs: nothing said

    api.engine.containers_by_project["web"] = []  # removed by hand
    passes(api, 1)
    runs = wait_runs(api, 2)
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["trigger"] == "reconcile"
    (told,) = audited(api, "drift")
    assert "stack web: missing: app has no running container" in told["reason"]
    passes(api, 3)
    assert len(audited(api, "drift")) == 1
    assert len(audited(api, "drift_resolved")) == 1
    assert len(runs_of(api)) == 2
    assert 'chatops_drift{kind="missing"} 0.0' in api.client.get("/metrics").text


def test_heal_never_runs_after_a_failed_run_over_50_passes(make_api) -> None:
    api = make_api(intents={"deploy_web": INTENT + "reconcile: heal\n"})
    assert api.post_run({"name": "deploy_web", "wait": True}).status_code == 200
    api.failing.add("up")
    api.post_run({"name": "deploy_web", "wait": True})
    api.engine.containers_by_project["web"] = []
    before = runs_of(api)
    assert before[0]["status"] != "succeeded"

    passes(api, 50)

    assert len(runs_of(api)) == len(before)  # never redeployed
    (told,) = audited(api, "drift")  # told once, not fifty times
    assert "run: its last run" in told["reason"]


def test_alert_mode_tells_once_and_off_says_nothing(make_api) -> None:
    api = make_api(intents={"deploy_web": INTENT,
                            "other": INTENT.replace("stack: web", "stack: quiet")
                            + "reconcile: off\n"})
    assert api.post_run({"name": "deploy_web", "wait": True}).status_code == 200
    api.engine.containers_by_project["web"] = []
    passes(api, 5)
    assert len(audited(api, "drift")) == 1
    assert len(runs_of(api)) == 1  # alert never runs anything


def test_a_run_goes_on_from_the_last_fetch_when_the_remote_and_the_forge_are_down(
        make_api, tmp_path) -> None:
    from tests.fakes.github import FakeGitHub
    from tests.unit.test_gitops import World, git

    (tmp_path / "w").mkdir()
    world = World.create(tmp_path / "w", {
        "stacks/web/docker-compose.yml": "services:\n  app:\n    image: app:v2\n",
        "chatops/intents/deploy_web.yaml": INTENT})
    sha = git(world.dev, "rev-parse", "HEAD")
    github = FakeGitHub().start()
    github.merged_pr(1, sha, labels=["approved"])
    api = make_api(repo=world.host, forge_repo=github.repo, forge_token=github.token,
                   forge_url=github.api)
    assert api.post_run({"name": "deploy_web", "sha": sha, "wait": True}).status_code == 200

    github.stop()  # the forge is down ...
    world.remote.rename(world.remote.with_name("gone.git"))  # ... and so is the remote
    # A commit named by its caller is refused as before (the remote cannot confirm it) ...
    named = api.post_run({"name": "deploy_web", "sha": sha, "wait": True})
    assert named.json()["error"]["code"] == "git_unreachable"
    # ... a run that names none (a schedule's, a person's "deploy") goes on.
    deploys = _deploys(api)
    started = api.client.portal.call(deploys.run, SCHEDULER,
                                     RunAsk(name="deploy_web", branch_head=True))
    run_id = started.record.id
    api.client.portal.call(deploys.ended, run_id)
    log = api.client.get(f"/runs/{run_id}/log", headers={"x-api-key": GOOD}).text
    assert "deploying from the last fetched origin/main (the remote did not answer)" in log
    assert "the approval recorded at " in log
    assert "is used (the forge did not answer)" in log
    # A commit the forge never approved while it answered is still refused.
    world.remote.with_name("gone.git").rename(world.remote)
    newer = world.commit({"stacks/web/docker-compose.yml":
                          "services:\n  app:\n    image: app:v3\n"}, "v3")
    git(world.host, "fetch", "-q")
    world.remote.rename(world.remote.with_name("gone.git"))
    with pytest.raises(GitHubError, match="GitHub cannot be reached"):
        api.client.portal.call(deploys.run, SCHEDULER,
                               RunAsk(name="deploy_web", branch_head=True))
    assert git(world.host, "rev-parse", "refs/remotes/origin/main") == newer
