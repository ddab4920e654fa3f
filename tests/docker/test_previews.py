"""Previews per pull request on the real engine, behind a real HAProxy and a real
Traefik: a labelled pull request's stack starts as ``web-pr-N`` from its head (Git
objects; the checkout never moves) and answers on its Host name through the proxy while
production keeps serving; a push updates it; closing takes every trace away. Refusals
(the compose policy with no exception, a fork, the author's own label, no free port)
start nothing and say why in the pull request's comment. GitHub is the loopback
stand-in; Git, the engine, HAProxy and Traefik are real."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatops.gitops.forges.github import sign
from tests import served
from tests.api.test_dashboard import add_user, sign_in
from tests.docker.bluegreen import Watcher
from tests.docker.conftest import Images, demo_compose, docker, free_port, wait_for_http
from tests.fakes.github import FakeGitHub
from tests.fakes.json_target import JsonTarget
from tests.policy_kit import LOOPBACK_POLICY
from tests.unit.test_gitops import World, git

SECRET = "preview-secret-" + uuid.uuid4().hex
DOMAIN = "preview.test"
INTENT = """\
label_required: approved
action: rollout
stack: {stack}
service: web
notify: [previews]
preview:
  port: 8080
  network: host
  port_env: PORT
  path: /version
  env: {{GREETING: preview}}
  ttl: {ttl}
  cpus: 0.5
  memory: 64m
"""


def _ports(count: int) -> tuple[int, int]:
    """``count`` consecutive loopback ports nothing listens on."""
    for _ in range(200):
        first = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        ok = True
        for port in range(first, first + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return first, first + count - 1
    raise AssertionError("no free port range")


class Setup:
    def __init__(self, tmp: Path, images: Images, proxy: str, *, ports: int = 4,
                 most: int = 2, ttl: str = "1h", env: dict[str, str] | None = None
                 ) -> None:
        self.tmp, self.proxy = tmp, proxy
        self.stack = f"pv{uuid.uuid4().hex[:8]}"
        self.prod_port = free_port()
        self.v1, self.v2 = images("v1"), images("v2")
        self.world = World.create(tmp, {
            f"stacks/{self.stack}/docker-compose.yml": demo_compose(self.v1, self.prod_port),
            f"stacks/{self.stack}/static/hello.txt": "hi\n",
            f"chatops/intents/rollout_{self.stack}.yaml": INTENT.format(stack=self.stack, ttl=ttl),
            "chatops/policy.yaml": LOOPBACK_POLICY + "preview_host_network: true\n"})
        self.github = FakeGitHub().start()
        self.listen = free_port()
        first, last = _ports(ports)
        self.env = {
            "CHATOPS_GITHUB_REPO": self.github.repo, "CHATOPS_GITHUB_TOKEN":
            self.github.token, "CHATOPS_GITHUB_API": self.github.api,
            "CHATOPS_GITHUB_WEBHOOK_SECRET": SECRET, "CHATOPS_PREVIEW_DOMAIN": DOMAIN,
            "CHATOPS_PREVIEW_PROXY": proxy,
            "CHATOPS_PREVIEW_LISTEN": f"127.0.0.1:{self.listen}",
            "CHATOPS_PREVIEW_PORTS": f"{first}-{last}", "CHATOPS_PREVIEW_MAX": str(most),
            **(env or {})}
        self.haproxy: Any = None
        self.traefik: Any = None
        if proxy == "haproxy":
            from tests.proxies.haproxy import HAProxy

            self.haproxy = HAProxy(tmp / "haproxy")
            self.env.update(self.haproxy.env())
            written = subprocess.run(
                [sys.executable, "-m", "chatops", "previews", "config", "--write"],
                env={**os.environ, **self.env, "CHATOPS_STATE_DIR": str(tmp / "state")},
                capture_output=True, text=True, timeout=60, check=False)
            assert written.returncode == 0, written.stderr
            assert "chatops_previews.cfg" in written.stdout
            self.haproxy.start()
        else:
            from tests.proxies.traefik import Traefik

            self.traefik = Traefik(tmp / "traefik", self.listen)
            self.env.update(self.traefik.env())
            self.traefik.start()
        # Production runs beside the previews, from the host's checkout.
        self.prod = ["compose", "-p", self.stack, "-f",
                     str(self.world.host / "stacks" / self.stack / "docker-compose.yml")]
        docker(*self.prod, "up", "-d", "--wait")
        wait_for_http(f"http://127.0.0.1:{self.prod_port}/version", "v1")
        assert add_user(tmp / "state", "ann", "read").returncode == 0
        self.service = served.start(self.world.host, tmp / "state", env=self.env)
        self.base = git(self.world.dev, "rev-parse", "HEAD")

    def push_branch(self, files: dict[str, str], branch: str = "feature") -> str:
        if git(self.world.dev, "rev-parse", "--abbrev-ref", "HEAD") != branch:
            git(self.world.dev, "checkout", "-q", "-B", branch)
        for name, text in files.items():
            path = self.world.dev / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.world.dev, "add", "-A")
        git(self.world.dev, "commit", "-qm", "change")
        git(self.world.dev, "push", "-q", "-f", "origin", f"HEAD:{branch}")
        return git(self.world.dev, "rev-parse", "HEAD")

    def compose(self, image: str, extra: str = "") -> dict[str, str]:
        return {f"stacks/{self.stack}/docker-compose.yml":
                demo_compose(image, self.prod_port) + extra}

    def label(self, number: int, by: str = "reviewer") -> None:
        self.github.events[number] = [{"id": 1, "event": "labeled", "actor": {"login": by},
                                       "label": {"name": "preview"},
                                       "created_at": "2026-12-01T10:00:00Z"}]

    def event(self, action: str, number: int, head: str, *, labels: tuple[str, ...] =
              ("preview",), author: str = "dev", fork: bool = False,
              branch: str = "feature") -> httpx.Response:
        repo = {"full_name": "someone/fork" if fork else self.github.repo}
        body = json.dumps({"action": action, "number": number, "pull_request": {
            "number": number, "title": "change", "user": {"login": author},
            "labels": [{"name": n} for n in labels],
            "base": {"ref": "main", "sha": self.base,
                     "repo": {"full_name": self.github.repo}},
            "head": {"ref": branch, "sha": head, "repo": repo}}}).encode()
        return httpx.post(f"{self.service.url}/webhooks/github", content=body, timeout=60,
                          headers={"content-type": "application/json",
                                   "x-github-event": "pull_request",
                                   "x-github-delivery": str(uuid.uuid4()),
                                   "x-hub-signature-256": sign(SECRET.encode(), body)})

    def previews(self) -> list[dict[str, Any]]:
        answer = self.service.get("/previews")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["previews"])

    def settled(self, number: int, head: str | None, deadline: float = 90) -> list[Any]:
        """The pull request's previews once each is up or failed at ``head`` (None: gone)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            mine = [p for p in self.previews() if p["number"] == number]
            if head is None and not mine:
                return mine
            if head is not None and mine and all(
                    p["head"] == head and p["state"] in ("up", "failed") for p in mine):
                return mine
            time.sleep(0.2)
        raise AssertionError(f"previews of #{number} never settled: {self.previews()}")

    def comment(self, number: int) -> str:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            found = self.github.comments.get(number) or []
            if found:
                return str(found[0]["body"])
            time.sleep(0.1)
        raise AssertionError(f"no comment on #{number}")

    def through_proxy(self, host: str, path: str = "/version") -> tuple[int, str]:
        answer = httpx.get(f"http://127.0.0.1:{self.listen}{path}", headers={"Host": host},
                           timeout=5)
        return answer.status_code, answer.text.strip()

    def traces(self, project: str) -> dict[str, int]:
        label = f"label=com.docker.compose.project={project}"
        return {kind: len([x for x in docker(*args, "-q", "--filter", label).stdout.split()
                           if x]) for kind, args in (("containers", ("ps", "-a")),
                                                     ("volumes", ("volume", "ls")),
                                                     ("networks", ("network", "ls")))}

    def close(self) -> None:
        self.service.stop()
        for project in [f"{self.stack}-pr-{n}" for n in range(1, 40)] + [self.stack]:
            docker("compose", "-p", project, "down", "-v", "--timeout", "1", check=False)
        if self.haproxy is not None:
            self.haproxy.stop()
        if self.traefik is not None:
            self.traefik.stop()
        self.github.stop()


@pytest.fixture(params=["haproxy", "traefik"])
def setup(request: pytest.FixtureRequest, engine: None, images: Images,
          tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path, images, request.param)
    try:
        yield made
    finally:
        made.close()


def test_a_labelled_pull_request_gets_a_preview_that_a_push_updates_and_closing_removes(
        setup: Setup) -> None:
    s, number = setup, 7
    project = f"{s.stack}-pr-{number}"
    host_head = git(s.world.host, "rev-parse", "HEAD")
    s.label(number)
    head = s.push_branch(s.compose(s.v2))
    with Watcher(f"http://127.0.0.1:{s.prod_port}") as production:
        opened = s.event("opened", number, head)
        assert opened.status_code == 202, opened.text
        assert opened.json()["previews"] == "queued"
        (preview,) = s.settled(number, head)
        assert preview["state"] == "up", preview
        assert preview["project"] == project
        assert preview["url"] == f"http://pr-{number}.{DOMAIN}:{s.listen}"
        assert preview["running"] == preview["containers"] == 1
        # The preview answers on both its names, with the pull request's image.
        assert s.through_proxy(f"pr-{number}.{DOMAIN}") == (200, "v2")
        assert s.through_proxy(f"{s.stack}.pr-{number}.{DOMAIN}") == (200, "v2")
        assert s.through_proxy(f"pr-99.{DOMAIN}")[0] == 404
        _its_own_limits_and_variables(project, number)
        comment = s.comment(number)
        assert "#### Previews" in comment
        assert f"| {s.stack} | http://pr-{number}.{DOMAIN}:{s.listen} | ✅ up |" in comment
        _the_dashboard_lists_it(s, number)
        statuses = [b for sha, b in s.github.statuses if sha == head
                    and b["context"] == f"chatops/preview/{s.stack}"]
        assert [b["state"] for b in statuses] == ["pending", "success"]

        # Two pushes in quick succession: the last one wins, the first is applied whole
        # or not at all (superseded while it waited); the same preview, at the new head.
        between = s.push_branch(s.compose(s.v2, "    labels: {pushed: once}\n"))
        newer = s.push_branch(s.compose(s.v1, "    labels: {pushed: again}\n"))
        assert s.event("synchronize", number, between).status_code == 202
        assert s.event("synchronize", number, newer).status_code == 202
        (updated,) = s.settled(number, newer)
        assert updated["state"] == "up"
        assert updated["port"] == preview["port"]
        assert s.through_proxy(f"pr-{number}.{DOMAIN}") == (200, "v1")

        # Closed: every container, volume, network and route gone.
        closed = s.event("closed", number, newer)
        assert closed.json()["previews"] == "removing"
        assert s.settled(number, None) == []
        assert s.traces(project) == {"containers": 0, "volumes": 0, "networks": 0}
        assert s.through_proxy(f"pr-{number}.{DOMAIN}")[0] == 404
        assert not (s.tmp / "state" / "previews" / project).exists()
    # Production served all along; the checkout never moved.
    assert production.answers
    assert [a for a in production.answers if a != "200 v1"] == []
    assert git(s.world.host, "rev-parse", "HEAD") == host_head
    records = s.service.get("/audit?limit=1000").json()["records"]
    decisions = [r["decision"] for r in records]
    assert {"preview_created", "preview_updated", "preview_removed"} <= set(decisions)


def test_refused_previews_start_nothing_and_say_why(engine: None, images: Images,
                                                      tmp_path: Path) -> None:
    s = Setup(tmp_path, images, "haproxy", ports=1)
    try:
        # The compose policy, with no exception for a preview: the socket, privileged, /.
        s.label(7)
        bad = s.push_branch(s.compose(s.v2, "    privileged: true\n    volumes:\n"
                                      "      - /var/run/docker.sock:/var/run/docker.sock\n"
                                      "      - /:/host\n"))
        assert s.event("opened", 7, bad).status_code == 202
        text = _wait_comment(s, 7, "#### Previews")
        assert "the compose policy refuses it" in text
        assert "privileged" in text
        assert "docker_socket" in text
        assert s.traces(f"{s.stack}-pr-7")["containers"] == 0
        assert s.previews() == []

        # A fork's pull request, even labelled by a reviewer.
        git(s.world.dev, "checkout", "-q", "main")
        fork = s.push_branch(s.compose(s.v2), branch="fork")
        s.label(8)
        answer = s.event("opened", 8, fork, fork=True, branch="fork")
        assert answer.status_code == 202, answer.text
        assert "comes from a fork" in _wait_comment(s, 8, "#### Previews")

        # The author's own label.
        s.label(9, by="dev")
        s.event("opened", 9, fork, branch="fork")
        assert "the pull request's author" in _wait_comment(s, 9, "#### Previews")
        assert s.previews() == []

        # One port in the range: the second preview is refused, naming the setting.
        s.label(9, by="reviewer")
        s.event("labeled", 9, fork, branch="fork")
        (one,) = s.settled(9, fork)
        assert one["state"] == "up", one
        s.label(8, by="reviewer")
        s.event("labeled", 8, fork, branch="fork")
        assert "CHATOPS_PREVIEW_PORTS" in _wait_comment(s, 8, "no free port")
        assert [p["number"] for p in s.previews()] == [9]

        # Listed and removed by hand, with the CLI through the service's socket.
        listed = _cli(s, "previews")
        assert listed.returncode == 0, listed.stderr
        assert f"#9     {s.stack}" in listed.stdout
        assert f"http://pr-9.{DOMAIN}:{s.listen}" in listed.stdout
        gone = _cli(s, "previews", "destroy", "9")
        assert gone.returncode == 0, gone.stderr
        assert f"removed the previews of pull request #9: {s.stack}-pr-9" in gone.stdout
        assert s.previews() == []
        again = httpx.delete(f"{s.service.url}/previews/9",
                             headers={"X-API-Key": served.KEY}, timeout=60)
        assert again.status_code == 403
        assert again.json()["error"]["message"] == "pull request #9 has no preview"
        assert s.traces(f"{s.stack}-pr-9")["containers"] == 0
    finally:
        s.close()


def _cli(s: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatops", *args], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "CHATOPS_STATE_DIR": str(s.tmp / "state")})


def _its_own_limits_and_variables(project: str, number: int) -> None:
    """The preview block's limits and variables, none of production's."""
    inspect = json.loads(docker("inspect", f"{project}-web-1").stdout)[0]
    assert inspect["HostConfig"]["Memory"] == 64 * 2**20
    assert inspect["HostConfig"]["NanoCpus"] == 500_000_000
    assert "GREETING=preview" in inspect["Config"]["Env"]
    assert inspect["Config"]["Labels"]["chatops.preview"] == str(number)


def _the_dashboard_lists_it(s: Setup, number: int) -> None:
    """With its address, age and containers."""
    browser, _ = sign_in(s.service)
    page = browser.get("/ui/stacks").text
    assert "Previews of pull requests" in page
    assert f'<a href="http://pr-{number}.{DOMAIN}:{s.listen}">' in page
    assert "1/1 running" in page


def _wait_comment(s: Setup, number: int, needle: str, deadline: float = 60) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = s.github.comments.get(number) or []
        if found and needle in found[0]["body"]:
            return str(found[0]["body"])
        time.sleep(0.2)
    raise AssertionError(f"#{number}: no {needle!r} in {s.github.comments.get(number)}")


def test_one_preview_too_many_is_refused_and_one_whose_ttl_passes_is_removed(
        engine: None, images: Images, tmp_path: Path) -> None:
    heard, other = JsonTarget(), JsonTarget()  # the intent's notify tag, and another
    s = Setup(tmp_path, images, "haproxy", ttl="10s", most=1, env={
        "CHATOPS_NOTIFY_URLS": f"previews={heard.url} ops={other.url}"})
    try:
        s.label(5)
        head = s.push_branch(s.compose(s.v2))
        s.event("opened", 5, head)
        (preview,) = s.settled(5, head)
        assert preview["state"] == "up"
        # One at most: the next is refused, naming the setting; the first is not evicted.
        s.label(6)
        s.event("opened", 6, head)
        assert "CHATOPS_PREVIEW_MAX=1" in _wait_comment(s, 6, "#### Previews")
        assert [p["number"] for p in s.previews()] == [5]
        assert s.settled(5, None, deadline=60) == []  # the service's sweep, every 5 s
        assert s.traces(f"{s.stack}-pr-5") == {"containers": 0, "volumes": 0, "networks": 0}
        assert s.through_proxy(f"pr-5.{DOMAIN}")[0] == 404
        assert "its ttl passed" in " ".join(
            r["reason"] for r in s.service.get("/audit?limit=1000").json()["records"]
            if r["decision"] == "preview_removed")
        # Announced where the intent's notify says, and nowhere else.
        heard.wait_for(f"PREVIEW CREATED: {s.stack} of pull request #5")
        heard.wait_for(f"PREVIEW REMOVED: {s.stack} of pull request #5")
        assert not any("PREVIEW" in json.dumps(b) for b in other.received)
    finally:
        s.close()
        heard.server.shutdown()
        other.server.shutdown()
