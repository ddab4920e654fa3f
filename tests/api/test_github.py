"""POST /run for a commit: synced from a real bare remote, approved against a GitHub fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.gitops.sync import RepoSync
from tests.api.conftest import INTENT, Api
from tests.fakes.github import FakeGitHub
from tests.unit.test_gitops import World, git

COMPOSE = "services:\n  app:\n    image: app:{tag}\n"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, {"chatops/intents/deploy_web.yaml": INTENT,
                                   "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1")})


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


def served(make_api, world: World, github: FakeGitHub, **extra) -> Api:
    return make_api(repo=world.host, forge_repo=github.repo, forge_token=github.token,
                    forge_url=github.api, approved_labels="", **extra)


def error(resp) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["code"]


def test_a_merged_and_labelled_commit_is_synced_and_deployed(make_api, world, github) -> None:
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(7, sha, labels=["approved", "docs"], author="alice", merged_by="bob")
    api = served(make_api, world, github)

    resp = api.post_run({"name": "deploy_web", "sha": sha, "wait": True})

    assert resp.status_code == 200, resp.text
    run = resp.json()["run"]
    assert run["sha"] == sha
    assert run["pull_request"]["number"] == 7
    assert (run["pull_request"]["author"], run["pull_request"]["merged_by"]) == ("alice", "bob")
    assert RepoSync(world.host).head() == sha
    assert "app:v2" in (world.host / "stacks/web/docker-compose.yml").read_text()
    accepted = [r for r in api.audit_rows() if r["decision"] == "accepted"]
    assert "PR #7 by alice, merged by bob" in accepted[-1]["reason"]


def test_missing_label_is_refused_and_nothing_moves(make_api, world, github) -> None:
    before = RepoSync(world.host).head()
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(8, sha, labels=["docs"])
    api = served(make_api, world, github)

    resp = api.post_run({"name": "deploy_web", "sha": sha})

    assert error(resp) == (403, "label_not_approved")
    assert "does not carry the label 'approved'" in resp.json()["error"]["message"]
    assert RepoSync(world.host).head() == before
    assert api.get("/runs").json()["runs"] == []
    assert any(r["reason"].startswith("label_not_approved") for r in api.audit_rows()
               if r["reason"])


def test_closed_without_merge_is_refused(make_api, world, github) -> None:
    sha = world.commit({"README.md": "x"})
    github.merged_pr(9, sha, labels=["approved"], merged=False)
    resp = served(make_api, world, github).post_run({"name": "deploy_web", "sha": sha})
    assert error(resp) == (403, "label_not_approved")
    assert "closed without being merged" in resp.json()["error"]["message"]


def test_commit_without_a_pull_request_is_refused(make_api, world, github) -> None:
    sha = world.commit({"README.md": "direct push"})
    resp = served(make_api, world, github).post_run({"name": "deploy_web", "sha": sha})
    assert error(resp) == (403, "label_not_approved")
    assert "no pull request merged commit" in resp.json()["error"]["message"]


def test_commit_not_on_the_branch_is_409(make_api, world, github) -> None:
    resp = served(make_api, world, github).post_run({"name": "deploy_web",
                                                     "sha": "0123456789abcdef"})
    assert error(resp) == (409, "commit_not_on_branch")
    assert resp.json()["error"]["field"] == "sha"


def test_runs_without_a_commit_are_refused_when_github_enforces(make_api, world,
                                                                github) -> None:
    resp = served(make_api, world, github).post_run({"name": "deploy_web"})
    assert error(resp) == (403, "commit_required")


@pytest.mark.parametrize("status", [401, 404, 500, 502])
def test_github_errors_refuse_with_503(make_api, world, github, status: int) -> None:
    sha = world.commit({"README.md": "x"})
    github.merged_pr(10, sha, labels=["approved"])
    github.fail_with = status
    before = RepoSync(world.host).head()
    resp = served(make_api, world, github).post_run({"name": "deploy_web", "sha": sha})
    assert error(resp) == (503, "github_unavailable")
    assert RepoSync(world.host).head() == before


def test_github_timing_out_is_503(make_api, world, github) -> None:
    sha = world.commit({"README.md": "x"})
    github.merged_pr(11, sha, labels=["approved"])
    github.delay = 1.5
    api = served(make_api, world, github)
    api.client.app.app.state.services.forge.timeout = 0.5
    resp = api.post_run({"name": "deploy_web", "sha": sha})
    assert error(resp) == (503, "github_unavailable")
    assert "did not answer" in resp.json()["error"]["message"]


def test_wrong_token_is_a_clear_503(make_api, world, github) -> None:
    sha = world.commit({"README.md": "x"})
    github.merged_pr(12, sha, labels=["approved"])
    api = make_api(repo=world.host, forge_repo=github.repo, forge_token="wrong",
                   forge_url=github.api, approved_labels="")
    resp = api.post_run({"name": "deploy_web", "sha": sha})
    assert error(resp) == (503, "github_unavailable")
    message = resp.json()["error"]["message"]
    assert "CHATOPS_FORGE_TOKEN needs read access to pull requests" in message
    assert "wrong" not in json.dumps(api.audit_rows())


def test_dirty_checkout_is_409_and_unreachable_remote_503(make_api, world, github) -> None:
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(13, sha, labels=["approved"])
    (world.host / "stacks/web/docker-compose.yml").write_text("edited on the host\n")
    api = served(make_api, world, github)
    assert error(api.post_run({"name": "deploy_web", "sha": sha})) == (409, "checkout_dirty")
    git(world.host, "checkout", "--", "stacks/web/docker-compose.yml")
    git(world.host, "remote", "set-url", "origin", str(world.remote) + "-gone")
    assert error(api.post_run({"name": "deploy_web", "sha": sha})) == (503, "git_unreachable")


def test_without_github_the_approved_labels_check_stands(make_api, world) -> None:
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    api = make_api(repo=world.host)
    resp = api.post_run({"name": "deploy_web", "sha": sha, "wait": True})
    assert resp.status_code == 200, resp.text
    assert RepoSync(world.host).head() == sha


def test_a_run_without_a_commit_moves_a_checkout_to_the_branch_head(make_api, world) -> None:
    head = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v3")})
    api = make_api(repo=world.host)
    resp = api.post_run({"name": "deploy_web", "wait": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["run"]["sha"] == head
    assert RepoSync(world.host).head() == head
