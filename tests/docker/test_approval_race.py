"""Approvals on the real engine, with merges arriving as signed push webhooks: a newer
commit's run supersedes an older one that waits; an approval for another commit is
refused; and an approval racing a merge-triggered run ends one way or the other, never
both (the older commit never deploys after the newer one is asked for)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests import served
from tests.docker.conftest import docker, free_port, http_get, wait_for_http
from tests.docker.test_gitops_e2e import SECRET, compose, webhook
from tests.policy_kit import LOOPBACK_POLICY
from tests.unit.test_gitops import World, git

pytestmark = pytest.mark.docker


def intent(stack: str, port: int) -> str:
    return (f"label_required: approved-by-gemini\naction: rollout\nstack: {stack}\n"
            f"service: web\nhealth:\n  - http: http://127.0.0.1:{port}/cgi-bin/health\n"
            "    within: 20s\n    interval: 100ms\n"
            "approval:\n  approvers: [\"key:release\"]\n  ttl: 10m\n")


def waiting(service: served.Service, intent_name: str, known: set[str],
            deadline: float = 30.0) -> dict:
    """The newest run of the intent that is not in ``known``, once it waits."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for run in service.get(f"/runs?intent={intent_name}").json()["runs"]:
            if run["id"] not in known and run["status"] == "awaiting_approval":
                return run
        time.sleep(0.1)
    raise AssertionError(f"no new run waits: {service.get('/runs').json()}")


def ended(service: served.Service, run_id: str, deadline: float = 90.0) -> dict:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        run = service.get(f"/runs/{run_id}").json()
        if run["status"] not in ("awaiting_approval", "queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end")


def test_an_approval_racing_a_merge(engine, images, tmp_path: Path) -> None:  # noqa: PLR0915 - one story
    stack, port = f"ap-{uuid.uuid4().hex[:8]}", free_port()
    name = f"deploy_{stack.replace('-', '_')}"
    tags = {v: images(v) for v in ("v1", "v2", "v3")}
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": compose(stack, tags["v1"], port),
        "chatops/policy.yaml": LOOPBACK_POLICY,
        f"chatops/intents/{name}.yaml": intent(stack, port)})
    state = tmp_path / "state"
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    release = subprocess.run([sys.executable, "-m", "chatops", "keys", "create", "release",
                              "--approve"], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    service = served.start(world.host, state, env={
        "APPROVED_LABEL": "approved-by-gemini", "CHATOPS_GITHUB_WEBHOOK_SECRET": SECRET,
        "CHATOPS_STABILITY_WINDOW": "0.5s"})

    def approve(run_id: str, sha: str | None = None) -> httpx.Response:
        return service.post(f"/runs/{run_id}/approve", {"sha": sha} if sha else {},
                            key=release)

    try:
        base = git(world.dev, "rev-parse", "HEAD")
        assert webhook(service.url, "0" * 40, base)[0] == 202
        first = waiting(service, name, set())
        assert (first["sha"], first["actor"], first["trigger"]) == (base, "alice", "webhook")
        assert approve(first["id"], base[:12]).status_code == 200
        assert ended(service, first["id"])["status"] == "succeeded"
        assert wait_for_http(f"http://127.0.0.1:{port}/version", "v1", 30).strip() == "v1"
        seen = {first["id"]}

        # Two merges while nobody approves: the newer supersedes the older.
        c2 = world.commit({f"stacks/{stack}/docker-compose.yml":
                           compose(stack, tags["v2"], port)}, "v2")
        assert webhook(service.url, base, c2)[0] == 202
        older = waiting(service, name, seen)
        seen.add(older["id"])
        c3 = world.commit({f"stacks/{stack}/docker-compose.yml":
                           compose(stack, tags["v3"], port)}, "v3")
        assert webhook(service.url, c2, c3)[0] == 202
        newer = waiting(service, name, seen)
        seen.add(newer["id"])
        gone = service.get(f"/runs/{older['id']}").json()
        assert gone["status"] == "superseded"
        assert gone["reason"] == f"superseded by run {newer['id']} (commit {c3[:12]})"
        late = approve(older["id"])
        assert late.status_code == 409
        assert "superseded" in late.json()["error"]["message"]
        # The newer run's approval must name its own commit, if it names one.
        wrong = approve(newer["id"], c2)
        assert wrong.status_code == 409
        assert wrong.json()["error"]["code"] == "approval_for_other_commit"
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"

        # The race: the approval of c3 and the merge of c4, at once.
        c4 = world.commit({f"stacks/{stack}/docker-compose.yml":
                           compose(stack, tags["v2"], port)}, "v4 (v2 again)")
        answers: dict[str, object] = {}
        go = threading.Barrier(2)

        def click() -> None:
            go.wait()
            answers["approve"] = approve(newer["id"], c3)

        def merge() -> None:
            go.wait()
            answers["merge"] = webhook(service.url, c3, c4)[0]

        threads = [threading.Thread(target=click), threading.Thread(target=merge)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert answers["merge"] == 202
        raced = ended(service, newer["id"])
        latest = waiting(service, name, seen)
        assert latest["sha"] == c4
        clicked = answers["approve"]
        assert isinstance(clicked, httpx.Response)
        if clicked.status_code == 200:  # the approval came first: c3 deployed, then c4 asks
            assert raced["status"] == "succeeded"
            assert raced["steps"]
        else:  # the merge came first: c3 never ran
            assert clicked.status_code == 409
            assert raced["status"] == "superseded"
            assert raced["steps"] == []
        # Whichever won, the last word deploys the newest commit.
        assert approve(latest["id"], c4).status_code == 200
        assert ended(service, latest["id"])["status"] == "succeeded"
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v2"
        assert service.get(f"/runs/{older['id']}").json()["steps"] == []
        assert git(world.host, "rev-parse", "HEAD") == c4
    finally:
        service.stop()
        docker("compose", "-p", stack, "down", "-t", "1", check=False)
