"""One deploy layer under every surface: the CLI, POST /run, the GitHub webhook and the
scheduler give the same refusal for the same bad input, and the audit trail records it in
the same words; every surface's runs are announced the same way."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from chatops.errors import LabelNotApprovedError, OutsideWindowError
from chatops.gitops.sync import RepoSync
from chatops.server.schedules import SCHEDULER
from chatops.store.audit import AuditLog
from tests import served
from tests.api.conftest import LIMITED
from tests.api.test_github import COMPOSE, github, world  # noqa: F401 - fixtures
from tests.api.test_webhook import deliver, push
from tests.fakes.github import FakeGitHub
from tests.fakes.json_target import JsonTarget
from tests.unit.test_gitops import World

SECRET = "surfaces-webhook-secret-" + uuid.uuid4().hex


def refusals(where: Path | Any) -> list[dict[str, Any]]:
    """Refusals in a service's audit trail (``Api``), or in a state directory's."""
    rows = (AuditLog(where / "audit.sqlite3").tail(limit=100) if isinstance(where, Path)
            else where.audit_rows())
    return [r for r in rows if r["decision"] == "refused"]


def same_words(row: dict[str, Any]) -> tuple[Any, ...]:
    """What every surface records alike: the decision, status, intent and the reason's
    code (the message after it names the time, for a window)."""
    return (row["decision"], row["status"], row["intent"], row["reason"].split(":")[0])


def test_outside_a_deploy_window_every_surface_refuses_alike(
        make_api, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHATOPS_FREEZE", "always")
    api = make_api()
    monkeypatch.setenv("CHATOPS_STATE_DIR", str(tmp_path / "cli-state"))

    http = api.post_run({"name": "deploy_web"})
    fire = api.client.app.app.state.services.deploys.fire
    with pytest.raises(OutsideWindowError) as scheduled:
        asyncio.run(fire(SCHEDULER, "deploy_web"))
    local = cli("run", "--repo", str(api.root), "deploy_web")

    assert (http.status_code, http.json()["error"]["code"]) == (403, "outside_deploy_window")
    assert scheduled.value.code == "outside_deploy_window"
    assert local.code == 4
    assert "deploys are closed" in local.err
    api_rows = refusals(api)
    assert [same_words(r) for r in api_rows] == [
        ("refused", 403, "deploy_web", "outside_deploy_window")] * 2
    assert {r["key_name"] for r in api_rows} == {"ci", "scheduler"}
    (cli_row,) = refusals(tmp_path / "cli-state")
    assert same_words(cli_row) == same_words(api_rows[0])
    assert (cli_row["method"], cli_row["endpoint"]) == ("CLI", "chatops run")


def test_an_unapproved_commit_is_refused_alike_by_post_run_the_webhook_and_the_cli(  # noqa: PLR0917
        make_api, cli, world: World, github: FakeGitHub,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = RepoSync(world.host).head()
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(31, sha, labels=["docs"])
    api = make_api(repo=world.host, forge_repo=github.repo, forge_token=github.token,
                   forge_url=github.api, approved_labels="", forge_webhook_secret=SECRET)
    for name, value in {"CHATOPS_GITHUB_REPO": github.repo,
                        "CHATOPS_GITHUB_TOKEN": github.token,
                        "CHATOPS_GITHUB_API": github.api,
                        "CHATOPS_STATE_DIR": str(tmp_path / "cli-state")}.items():
        monkeypatch.setenv(name, value)

    http = api.post_run({"name": "deploy_web", "sha": sha})
    hook = deliver(api, push(before, sha), secret=SECRET)
    local = cli("run", "--repo", str(world.host), "deploy_web", "--sha", sha)

    for resp in (http, hook):
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "label_not_approved")
    assert local.code == 4
    assert "does not carry the label 'approved'" in local.err
    assert RepoSync(world.host).head() == before
    rows = [*refusals(api), *refusals(tmp_path / "cli-state")]
    assert len(rows) == 3
    assert {r["reason"] for r in rows} == {rows[0]["reason"]}
    assert {same_words(r) for r in rows} == {
        ("refused", 403, "deploy_web", LabelNotApprovedError.code)}


def test_an_intent_the_key_may_not_run_is_refused_and_recorded_by_the_use_case(
        make_api) -> None:
    api = make_api()
    resp = api.post_run({"name": "deploy_web"}, key=LIMITED)
    assert (resp.status_code, resp.json()["error"]["code"]) == (403, "scope_denied")
    (row,) = refusals(api)
    assert same_words(row) == ("refused", 403, "deploy_web", "scope_denied")
    assert row["key_name"] == "limited"


def test_a_cli_orchestrated_run_announces_every_run_in_plain_text(
        cli, gitops, monkeypatch: pytest.MonkeyPatch) -> None:
    target = JsonTarget()
    monkeypatch.setenv("CHATOPS_NOTIFY_URLS", target.url)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    repo = gitops({"first_a.yaml": "label_required: l\naction: pull\nstack: stack-a\n",
                   "second_b.yaml": "label_required: l\naction: pull\nstack: stack-b\n"})
    try:
        done = cli("run", "--repo", str(repo), "first_a", "second_b", "--keep-going")
    finally:
        target.server.shutdown()
    assert done.code == 1, done.err
    lines = sorted(m["message"].splitlines()[0] for m in target.received)
    assert lines == ["❌ FAILED: pull on stack stack-a (intent: first_a)",
                     "❌ FAILED: pull on stack stack-b (intent: second_b)"]


# -- the CLI through the service's socket ------------------------------------------------

def chatops(state: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state), "CHATOPS_REPO": str(repo)}
    return subprocess.run([sys.executable, "-m", "chatops", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def socket_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "label_required: approved\naction: pull\nstack: web\n")
    return repo


def test_the_cli_goes_through_a_running_service_and_shows_as_via_cli(
        socket_repo: Path, tmp_path: Path) -> None:
    service = served.start(socket_repo, tmp_path / "state", env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    try:
        sock = tmp_path / "state" / "chatops.sock"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        done = chatops(tmp_path / "state", socket_repo, "run", "deploy_web")
        runs = service.get("/runs").json()["runs"]
        audit = service.get("/audit?limit=50").json()["records"]
    finally:
        service.stop()
    assert "via the chatops service" in done.stderr
    assert done.returncode == 1, done.stderr  # the compose file is missing: failed
    (run,) = runs
    assert (run["trigger"], run["client"], run["status"]) == ("cli", "local", "failed")
    accepted = [r for r in audit if r["decision"] == "accepted"]
    assert (accepted[0]["method"], accepted[0]["client"]) == ("CLI", "local")
    assert accepted[0]["key_name"] == run["actor"]


def test_an_intent_with_dependencies_runs_as_a_graph_through_the_socket(
        socket_repo: Path, tmp_path: Path) -> None:
    (socket_repo / "chatops" / "intents" / "deploy_app.yaml").write_text(
        "label_required: approved\naction: pull\nstack: app\ndepends_on: [deploy_web]\n")
    service = served.start(socket_repo, tmp_path / "state", env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    try:
        done = chatops(tmp_path / "state", socket_repo, "run", "deploy_app")
        runs = service.get("/runs").json()["runs"]
    finally:
        service.stop()
    assert "via the chatops service" in done.stderr
    # The graph: the dependency first (it fails: no compose file), so the intent is
    # skipped, and one parent run holds them.
    parent = next(r for r in runs if r["intent"] == "orchestrate:deploy_app")
    (child,) = [r for r in runs if r.get("parent_id") == parent["id"]]
    assert (child["intent"], child["status"]) == ("deploy_web", "failed")
    assert "2 intents: 0 succeeded, 0 rolled back, 1 failed, 1 skipped" in done.stdout
    assert done.returncode == 1


def test_the_cli_through_the_socket_is_refused_like_post_run(
        socket_repo: Path, tmp_path: Path) -> None:
    service = served.start(socket_repo, tmp_path / "state", env={"CHATOPS_FREEZE": "always"})
    try:
        local = chatops(tmp_path / "state", socket_repo, "run", "deploy_web")
        http = service.post("/run", {"name": "deploy_web"})
        audit = service.get("/audit?limit=50").json()["records"]
        forced_local = chatops(tmp_path / "state", socket_repo, "run", "deploy_web",
                               "--local", "--dry-run")
    finally:
        service.stop()
    assert local.returncode == 4
    assert "deploys are closed" in local.stderr
    assert http.status_code == 403
    rows = [r for r in audit if r["decision"] == "refused"]
    assert [same_words(r) for r in rows] == [
        ("refused", 403, "deploy_web", "outside_deploy_window")] * 2
    assert [r["method"] for r in rows] == ["CLI", "POST"]
    assert forced_local.returncode == 0
    assert "via the chatops service" not in forced_local.stderr


def test_outside_a_deploy_window_the_webhook_refuses_a_push_alike(
        make_api, world: World, github: FakeGitHub,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_FREEZE", "always")
    before = RepoSync(world.host).head()
    sha = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    github.merged_pr(41, sha, labels=["approved"])
    api = make_api(repo=world.host, forge_repo=github.repo, forge_token=github.token,
                   forge_url=github.api, approved_labels="", forge_webhook_secret=SECRET)
    hook = deliver(api, push(before, sha), secret=SECRET)
    assert (hook.status_code, hook.json()["error"]["code"]) == (403, "outside_deploy_window")
    assert RepoSync(world.host).head() == before
    (row,) = refusals(api)
    # A push is refused before its intents are known: the same words, without an intent.
    assert same_words(row) == ("refused", 403, None, "outside_deploy_window")
    assert row["key_name"] == "github-webhook"
