"""Drift on the real engine and real Git: what someone changed by hand on the host, a tag
re-pushed to another digest, a file edited in the checkout, a commit not deployed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.docker.conftest import REGISTRY, DemoStack, docker
from tests.docker.test_run import serve_v1
from tests.unit.test_gitops import git

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


def drift(cli, stack: DemoStack) -> tuple[int, list[dict[str, str]]]:
    result = cli("drift", "--repo", str(stack.root), "--format", "json")
    return result.code, json.loads(result.out)["drift"]


def kinds(found: list[dict[str, str]]) -> list[str]:
    return sorted(d["kind"] for d in found)


def test_drift_finds_what_was_changed_by_hand(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    assert drift(cli, demo_stack) == (0, [])
    text = cli("drift", "--repo", str(demo_stack.root))
    assert "✅ no drift" in text.out

    # The tag the deploy used is re-pushed to another image: drift, by digest.
    v1_ref = json.loads(cli("runs", "--local", "--format", "json").out)[0]
    ref = images.made[0]
    docker("tag", images("v2", push=False), ref)
    docker("push", "-q", ref)
    code, found = drift(cli, demo_stack)
    assert code == 1
    (moved,) = found
    assert moved["kind"] == "image"
    assert f"web: {ref} now points to sha256:" in moved["message"]
    assert v1_ref["id"] in moved["message"]

    # Someone recreates the service by hand (it gets the moved tag's image), edits the
    # compose file on the host, and drops a file into the stack's folder.
    demo_stack.compose("up", "-d", "--no-deps", "web")
    demo_stack.compose_file.write_text(demo_stack.compose_file.read_text() + "# edited\n")
    (demo_stack.dir / "override.env").write_text("DEBUG=1\n")
    # ... and starts a container in the project that no file describes.
    docker("run", "-d", "--name", f"{demo_stack.name}-stray", "--label",
           f"com.docker.compose.project={demo_stack.name}", "--label",
           "com.docker.compose.service=stray", images.made[0], "sleep", "600")
    try:
        code, found = drift(cli, demo_stack)
        assert code == 1
        assert kinds(found) == ["file", "file", "image", "image", "orphan"], found
        messages = "\n".join(d["message"] for d in found)
        assert "web runs image sha256:" in messages
        assert f"{demo_stack.compose_file} differs from the one run" in messages
        assert f"{demo_stack.dir / 'override.env'} is new since run" in messages
        assert f"{demo_stack.name}-stray (service stray) is in project" in messages
    finally:
        docker("rm", "-f", f"{demo_stack.name}-stray", check=False)

    # The container removed by hand.
    demo_stack.compose("rm", "-s", "-f", "web")
    code, found = drift(cli, demo_stack)
    assert any(d["kind"] == "missing" and d["message"].startswith("web has no running")
               for d in found), found


def test_drift_reads_the_checkout_and_undeployed_commits(cli, engine, tmp_path: Path) -> None:
    from tests.unit.test_gitops import World

    world = World.create(tmp_path, {
        "chatops/intents/rollout_web.yaml": "label_required: approved\naction: rollout\n"
                                            "stack: web\n",
        "stacks/web/docker-compose.yml": f"services:\n  web:\n    image: {REGISTRY}/x:1\n"})
    git(world.host, "fetch", "-q")
    assert cli("drift", "--repo", str(world.host)).code == 0
    newer = world.commit({"stacks/web/docker-compose.yml":
                          f"services:\n  web:\n    image: {REGISTRY}/x:2\n"}, "web 2")
    git(world.host, "fetch", "-q")
    (world.host / "stacks" / "web" / "notes.txt").write_text("edited on the host\n")

    code, found = drift(cli, DemoStackLike(world.host))

    assert code == 1
    by_kind = {d["kind"]: d["message"] for d in found}
    assert "local edits (stacks/web/notes.txt)" in by_kind["checkout"]
    assert by_kind["undeployed"] == (f"{newer[:12]} 'web 2' for rollout_web: no push or "
                                     "poll has brought it yet (a lost webhook? pull mode "
                                     "off?)")
    assert next(d for d in found if d["kind"] == "undeployed")["stack"] == "web"
    # A commit that changes nothing an intent uses needs no deploy: it is not drift.
    world.commit({"README.md": "notes\n"}, "docs only")
    git(world.host, "fetch", "-q")
    _, again = drift(cli, DemoStackLike(world.host))
    assert [d["message"][:12] for d in again if d["kind"] == "undeployed"] == [newer[:12]]


class DemoStackLike:
    """Just a repository root, as ``drift`` needs."""

    def __init__(self, root: Path) -> None:
        self.root = root



def test_a_container_killed_by_hand_is_told_and_healed(demo_stack: DemoStack, images,
                                                       tmp_path: Path) -> None:
    from tests import served
    from tests.docker.conftest import wait_for_http
    from tests.docker.test_run import intent
    from tests.fakes.json_target import JsonTarget

    intent(demo_stack, extra="reconcile: heal\n")
    chat = JsonTarget()
    service = served.start(demo_stack.root, tmp_path / "state", env={
        "CHATOPS_RECONCILE_INTERVAL": "1s", "CHATOPS_STABILITY_WINDOW": "0.3s",
        "CHATOPS_NOTIFY_URLS": chat.url})
    try:
        assert service.post("/run", {"name": "deploy", "wait": True}).status_code == 200
        assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"
        (container,) = docker("compose", "-p", demo_stack.name, "ps", "-q").stdout.split()
        docker("kill", container)

        chat.wait_for(f"DRIFT: stack {demo_stack.name} differs from its last good deploy")
        assert wait_for_http(demo_stack.url + "/version", "v1", 30).strip() == "v1"
        chat.wait_for(f"RESOLVED: stack {demo_stack.name} matches its last good deploy")
        runs = service.get("/runs").json()["runs"]
        assert [r["trigger"] for r in runs[:1]] == ["reconcile"]
        time.sleep(2.5)  # more passes: nothing more is said
        texts = [json.dumps(b) for b in chat.received]
        assert sum("DRIFT: stack" in t for t in texts) == 1
    finally:
        service.stop()
        chat.server.shutdown()


def test_a_container_that_dies_outside_a_deploy_is_announced_then_its_recovery(
        demo_stack: DemoStack, images, tmp_path: Path) -> None:
    from tests import served
    from tests.api.test_dashboard import add_user, sign_in
    from tests.docker.conftest import wait_for_http
    from tests.docker.test_run import intent
    from tests.fakes.json_target import JsonTarget

    intent(demo_stack)
    chat = JsonTarget()
    assert add_user(tmp_path / "state", "ann", "read").returncode == 0
    service = served.start(demo_stack.root, tmp_path / "state", env={
        "CHATOPS_STABILITY_WINDOW": "0.3s", "CHATOPS_NOTIFY_URLS": chat.url})
    try:
        assert service.post("/run", {"name": "deploy", "wait": True}).status_code == 200
        assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"
        time.sleep(1.5)  # the deploy's own stops and starts were not alerts
        assert not any("DOWN" in json.dumps(b) for b in chat.received)
        (container,) = docker("compose", "-p", demo_stack.name, "ps", "-q").stdout.split()
        start = time.monotonic()
        docker("kill", container)

        chat.wait_for(f"DOWN: stack {demo_stack.name} on this host: 1 container(s) failed",
                      deadline=10)
        assert time.monotonic() - start < 5
        down = next(json.dumps(b) for b in chat.received if "DOWN" in json.dumps(b))
        assert "died (exit code 137)" in down
        # The dashboard's stacks page says what differs from the last good deploy.
        client, _ = sign_in(service)
        page = client.get("/ui/stacks").text
        assert "needs attention" in page
        assert "since the last good deploy, missing: web has no running container" in page
        docker("start", container)
        chat.wait_for(f"UP AGAIN: stack {demo_stack.name} on this host", deadline=10)
    finally:
        service.stop()
        chat.server.shutdown()
