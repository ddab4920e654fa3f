"""Swarm on the harness's engine (a single-node swarm, services on the host network):
a good update completes; a crashing image is caught at its first failed task, before
Swarm's own monitor, and sent back to the snapshot's digest; a failing HTTP gate after a
completed update does the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.application.overview import StackView, stack_views
from chatops.repo import GitOpsRepo
from chatops.store.sqlite import RunStore
from tests.docker.conftest import docker, free_port, http_get

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def swarm(engine: None) -> Iterator[None]:
    joined = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if joined != "active":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if joined != "active":
            docker("swarm", "leave", "--force", check=False)


class Stack:
    def __init__(self, root: Path) -> None:
        self.name = f"sw{uuid.uuid4().hex[:8]}"
        # Each task serves on its own port: the slot's number after a free port's first
        # digits (slot 1 is the one the gate asks).
        self.base = free_port() // 10
        self.port = self.base * 10 + 1
        self.root = root
        (root / "chatops" / "intents").mkdir(parents=True)
        (root / "stacks" / self.name).mkdir(parents=True)
        (root / "chatops" / "intents" / "deploy_swarm.yaml").write_text(textwrap.dedent(f"""\
            label_required: approved
            action: rollout
            stack: {self.name}
            engine: swarm
            timeout: 90s
            health:
              - http: http://127.0.0.1:{self.port}/cgi-bin/health
                within: 8s
                interval: 100ms
            """))
        for name, body in (("scale_swarm", "action: scale\nservice: web\nreplicas: 2\n"),
                           ("restart_swarm", "action: restart\n"),
                           ("back_swarm", "action: rollback\nservice: web\n")):
            (root / "chatops" / "intents" / f"{name}.yaml").write_text(
                f"label_required: approved\nstack: {self.name}\nengine: swarm\n" + body)

    def tasks(self) -> list[str]:
        return docker("service", "ps", f"{self.name}_web", "--filter",
                      "desired-state=running", "--format", "{{.CurrentState}}"
                      ).stdout.splitlines()

    def write(self, image: str) -> None:
        (self.root / "stacks" / self.name / "docker-compose.yml").write_text(textwrap.dedent(
            f"""\
            version: "3.8"
            services:
              web:
                image: {image}
                init: true
                environment:
                  PORT: "{self.base}{{{{.Task.Slot}}}}"
                networks: [hostnet]
                deploy:
                  replicas: 1
                  update_config:
                    parallelism: 1
                    order: stop-first
                    failure_action: rollback
                    monitor: 3s
                  rollback_config:
                    parallelism: 1
                    order: stop-first
            networks:
              hostnet:
                external: true
                name: host
            """))

    def image(self) -> str:
        spec = docker("service", "inspect", f"{self.name}_web", "--format",
                      "{{json .Spec.TaskTemplate.ContainerSpec.Image}}").stdout
        return str(json.loads(spec))


def chatops(stack: Stack, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    env.pop("CHATOPS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "chatops", *args, "--repo", str(stack.root)],
                          env=env, capture_output=True, text=True, check=False, timeout=300)


def serves(port: int, text: str, deadline: float = 30.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if http_get(f"http://127.0.0.1:{port}/version")[1].strip() == text:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def overview(stack: Stack, state: Path) -> StackView:
    import asyncio

    from chatops.engine.docker import DockerEngine

    store = RunStore(state / "chatops.sqlite3")
    repo = GitOpsRepo(stack.root)
    try:
        intents = [repo.load_intent(p.stem) for p in repo.intent_files()]
        (view,) = asyncio.run(stack_views(repo, intents, store, DockerEngine()))
    finally:
        store.close()
    return view


def runs(stack: Stack, state: Path) -> list[dict]:
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-m", "chatops", "runs", "--format", "json",
                           "--local"], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_swarm_updates_rollbacks_and_gates(  # noqa: PLR0915 - one stack's whole story
        swarm, images, tmp_path: Path) -> None:
    stack, state = Stack(tmp_path / "repo"), tmp_path / "state"
    v1, v2, crash, bad = images("v1"), images("v2"), images("crash"), images("bad500")
    try:
        plan = chatops(stack, state, "plan", "deploy_swarm")
        assert "docker stack deploy -c" in plan.stdout
        assert "--with-registry-auth --resolve-image always" in plan.stdout
        assert "rollback_* state are failures" in plan.stdout

        stack.write(v1)
        first = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert first.returncode == 0, first.stdout + first.stderr
        assert serves(stack.port, "v1")
        stack.write(v2)
        second = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert second.returncode == 0, second.stdout + second.stderr
        assert serves(stack.port, "v2")
        good = stack.image()
        assert "@sha256:" in good  # pinned by digest: every node runs the same image
        assert good.startswith(v2.rsplit(":", 1)[0])

        # A crashing image: its first failed task fails the step at once (before Swarm's
        # own update monitor says anything), and chatops goes back to the digest.
        stack.write(crash)
        crashed = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert crashed.returncode == 2, crashed.stdout + crashed.stderr
        reason = runs(stack, state)[0]["reason"]
        assert "a new task of" in reason
        assert "failed" in reason
        assert serves(stack.port, "v2")
        assert stack.image() == good

        # A completed update whose HTTP gate fails: back to the snapshot's digest.
        stack.write(bad)
        gated = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert gated.returncode == 2, gated.stdout + gated.stderr
        record = runs(stack, state)[0]
        assert record["status"] == "rolled_back"
        assert "health gate failed" in record["reason"]
        assert "rolled back to the snapshot's digests" in record["reason"]
        assert serves(stack.port, "v2")
        assert stack.image() == good

        # Scale, restart and the rollback action, on Swarm services.
        assert chatops(stack, state, "run", "scale_swarm", "--local").returncode == 0
        assert sum(t.startswith("Running") for t in stack.tasks()) == 2
        assert chatops(stack, state, "run", "restart_swarm", "--local").returncode == 0
        assert serves(stack.port, "v2")
        back = chatops(stack, state, "run", "back_swarm", "--local")
        assert back.returncode == 0, back.stdout + back.stderr
        assert serves(stack.port, "v1")
        assert stack.image().startswith(v1.rsplit(":", 1)[0])
        assert stack.image() != good
        # The dashboard's stacks page reads Swarm services, not Compose containers.
        view = overview(stack, state)
        (web,) = view.containers
        assert (web.service, web.state, web.name) == (
            "web", "running", f"{stack.name}_web (2/2 tasks)")
        assert web.image.startswith(v1.rsplit(":", 1)[0] + "@sha256:")
        assert view.engine_problem is None
        assert view.problems == []
    finally:
        docker("stack", "rm", stack.name, check=False)


def test_swarm_gets_its_secrets_as_docker_secrets_named_by_their_content(
        swarm, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.sops_kit import SopsKit

    kit = SopsKit.make(tmp_path / "keys")
    monkeypatch.setenv("CHATOPS_AGE_KEY_FILE", str(kit.key_file))
    monkeypatch.setenv("CHATOPS_SECRETS_TMP", str(tmp_path / "shm"))
    stack, state = Stack(tmp_path / "repo"), tmp_path / "state"
    folder = stack.root / "stacks" / stack.name
    stack.write(images("v1"))
    compose = folder / "docker-compose.yml"
    compose.write_text(compose.read_text()
                       .replace("      PORT:", '      VERSION: "${APP_VERSION}"\n      PORT:')
                       .replace("    networks: [hostnet]", "    networks: [hostnet]\n"
                                "    secrets: [db]")
                       + "secrets:\n  db:\n    file: ./db_password.txt\n")
    kit.encrypt(folder / ".env", "APP_VERSION=swarm-sealed-7d\n")
    kit.encrypt(folder / "db_password.txt", "swarm-file-secret-1")

    def secret_in_task() -> str:
        task = docker("ps", "-q", "--filter", f"name={stack.name}_web").stdout.split()[0]
        return docker("exec", task, "cat", "/run/secrets/db").stdout

    def secrets_named() -> list[str]:
        names = docker("secret", "ls", "--format", "{{.Name}}").stdout.split()
        return sorted(n for n in names if n.startswith(f"{stack.name}_db_"))

    try:
        first = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert first.returncode == 0, first.stdout + first.stderr
        assert serves(stack.port, "swarm-sealed-7d")  # interpolated from the .env
        assert secret_in_task() == "swarm-file-secret-1"
        (named,) = secrets_named()
        assert len(named) == len(f"{stack.name}_db_") + 12
        assert list((tmp_path / "shm").iterdir()) == []

        # A new value is a new secret, and the service rolls to it.
        kit.encrypt(folder / "db_password.txt", "swarm-file-secret-2")
        second = chatops(stack, state, "run", "deploy_swarm", "--local")
        assert second.returncode == 0, second.stdout + second.stderr
        assert len(secrets_named()) == 2
        deadline = time.monotonic() + 30
        while secret_in_task() != "swarm-file-secret-2" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert secret_in_task() == "swarm-file-secret-2"
        assert "swarm-file-secret" not in second.stdout + second.stderr
    finally:
        docker("stack", "rm", stack.name, check=False)
        time.sleep(2)
        for name in secrets_named():
            docker("secret", "rm", name, check=False)
