"""Named hosts on real parts: a second Docker engine reached over SSH through a loopback
sshd (``MaxSessions 2``), a third reached over TCP with TLS client certificates, and the
harness's engine;
a deploy, an automatic rollback, refusals before anything changes, and a rolling deploy
across three hosts that stops at the failing one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.application.overview import StackView, stack_views
from chatops.hosts import parse_hosts
from chatops.repo import GitOpsRepo
from chatops.store.sqlite import RunStore
from tests.docker.conftest import docker, free_port, http_get
from tests.docker.hosts import ExtraEngine, Sshd, extra_engine, sshd
from tests.policy_kit import allow_loopback

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def far(engine: None) -> Iterator[ExtraEngine]:
    with extra_engine() as started:
        yield started


@pytest.fixture(scope="module")
def third(engine: None) -> Iterator[ExtraEngine]:
    with extra_engine(tls=True) as started:  # reached over TCP with client certificates
        yield started


@pytest.fixture(scope="module")
def ssh() -> Iterator[Sshd]:
    with sshd(max_sessions=2) as started:
        yield started


def ssh_host(ssh: Sshd, far: ExtraEngine, **vars_: str) -> dict[str, object]:
    return {"url": f"ssh://root@127.0.0.1:{ssh.port}", "socket": str(far.socket),
            "identity": str(ssh.key), "known_hosts": str(ssh.known_hosts), "vars": vars_}


class Repo:
    def __init__(self, root: Path, stack: str) -> None:
        self.root, self.stack = root, stack
        (root / "chatops" / "intents").mkdir(parents=True)
        allow_loopback(root)
        (root / "stacks" / stack).mkdir(parents=True)

    def compose(self, image: str, extra: str = "") -> None:
        (self.root / "stacks" / self.stack / "docker-compose.yml").write_text(textwrap.dedent(
            f"""\
            name: {self.stack}
            services:
              web:
                image: {image}
                network_mode: host
                init: true
                environment:
                  PORT: "${{PORT}}"
            """) + extra)

    def intent(self, name: str, where: str) -> None:
        (self.root / "chatops" / "intents" / f"{name}.yaml").write_text(
            f"label_required: approved\naction: rollout\nstack: {self.stack}\nservice: web\n"
            f"{where}\nhealth:\n  - http: http://127.0.0.1:${{PORT}}/cgi-bin/health\n"
            "    within: 8s\n    interval: 100ms\n")


def chatops(repo: Repo, state: Path, hosts: dict[str, object], *args: str
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state), "CHATOPS_HOSTS": json.dumps(hosts),
           "CHATOPS_STABILITY_WINDOW": "0.5s"}
    env.pop("CHATOPS_CONFIG", None)
    where = ["--repo", str(repo.root)] if args[0] in ("run", "plan", "validate") else []
    return subprocess.run([sys.executable, "-m", "chatops", *args, *where], env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def last_runs(repo: Repo, state: Path, hosts: dict[str, object]) -> list[dict]:
    done = chatops(repo, state, hosts, "runs", "--format", "json", "--local")
    return json.loads(done.stdout)


def overview(repo: Repo, state: Path, hosts: dict[str, object]) -> dict[str, StackView]:
    import asyncio

    from chatops.engine.docker import DockerEngine
    from chatops.engine.hosts import RoutedEngine

    store = RunStore(state / "chatops.sqlite3")
    gitops = GitOpsRepo(repo.root)
    engine = RoutedEngine(DockerEngine(), parse_hosts(hosts), state / "hosts")

    async def read() -> list[StackView]:
        try:
            intents = [gitops.load_intent(p.stem) for p in gitops.intent_files()]
            return await stack_views(gitops, intents, store, engine)
        finally:
            await engine.close()

    try:
        return {v.stack: v for v in asyncio.run(read())}
    finally:
        store.close()


def version(port: int) -> str:
    return http_get(f"http://127.0.0.1:{port}/version")[1].strip()


def test_a_host_over_ssh_deploys_rolls_back_and_refuses_before_changing(
        images, far: ExtraEngine, ssh: Sshd, tmp_path: Path) -> None:
    stack, port = f"h-{uuid.uuid4().hex[:8]}", free_port()
    repo, state = Repo(tmp_path / "repo", stack), tmp_path / "state"
    hosts = {"lab": ssh_host(ssh, far, PORT=str(port)),
             "gone": {**ssh_host(ssh, far, PORT="1"),
                      "url": f"ssh://root@127.0.0.1:{free_port()}"}}
    repo.intent("deploy_web", "host: lab")
    try:
        repo.compose(images("v1"))
        first = chatops(repo, state, hosts, "run", "deploy_web", "--local")
        assert first.returncode == 0, first.stdout + first.stderr
        assert version(port) == "v1"
        # It runs on the far engine, not on this one.
        assert far.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={stack}"
                          ).stdout.strip()
        assert not docker("ps", "-q", "--filter",
                          f"label=com.docker.compose.project={stack}").stdout.strip()

        repo.compose(images("v2"))
        assert chatops(repo, state, hosts, "run", "deploy_web", "--local").returncode == 0
        assert version(port) == "v2"
        repo.compose(images("bad500"))
        failed = chatops(repo, state, hosts, "run", "deploy_web", "--local")
        assert failed.returncode == 2, failed.stdout + failed.stderr  # rolled back
        assert version(port) == "v2"
        runs = last_runs(repo, state, hosts)
        assert runs[0]["status"] == "rolled_back"
        assert runs[0]["stacks"] == [f"{stack}@lab"]
        # Going back on that host only: to v1.
        back = chatops(repo, state, hosts, "rollback", f"{stack}@lab", "--local")
        assert back.returncode == 0, back.stdout + back.stderr
        assert version(port) == "v1"

        # A host that does not answer: refused before anything changes, naming it.
        repo.intent("deploy_gone", "host: gone")
        gone = chatops(repo, state, hosts, "run", "deploy_gone", "--local")
        assert gone.returncode == 1
        reason = last_runs(repo, state, hosts)[0]["reason"]
        assert "host gone cannot be reached" in reason
        assert "nothing was changed" in reason
        # A relative bind path on a host: refused, naming the line.
        repo.compose(images("v1"), "    volumes:\n      - ./data:/data\n")
        bind = chatops(repo, state, hosts, "run", "deploy_web", "--local")
        assert bind.returncode == 1
        reason = last_runs(repo, state, hosts)[0]["reason"]
        assert "line 10: service web binds the relative path './data'" in reason
        assert version(port) == "v1"
        checked = chatops(repo, state, hosts, "validate")
        assert checked.returncode == 1
        assert "binds the relative path './data'" in checked.stdout
        # A host the settings do not define: plan and validate name it.
        repo.compose(images("v1"))
        repo.intent("deploy_nowhere", "host: nowhere")
        planned = chatops(repo, state, hosts, "plan", "deploy_nowhere")
        assert planned.returncode == 4
        assert "names host 'nowhere', which CHATOPS_HOSTS does not define (gone, lab)" \
            in planned.stderr
        validated = chatops(repo, state, hosts, "validate")
        assert "host 'nowhere' is not defined in CHATOPS_HOSTS (gone, lab)" in \
            validated.stdout
    finally:
        far.docker("compose", "-p", stack, "down", "-t", "1", check=False)


def test_a_rolling_deploy_across_three_hosts_stops_at_the_failing_one(
        images, far: ExtraEngine, third: ExtraEngine, ssh: Sshd, tmp_path: Path) -> None:
    stack = f"r-{uuid.uuid4().hex[:8]}"
    ports = {"here": free_port(), "lab": free_port(), "third": free_port()}
    repo, state = Repo(tmp_path / "repo", stack), tmp_path / "state"
    repo.compose("${IMAGE}")
    assert third.tcp is not None
    v1, v2, bad = images("v1"), images("v2"), images("bad500")

    def hosts(here: str, lab: str, thr: str) -> dict[str, object]:
        return {"here": {"url": "unix:///var/run/docker.sock",
                         "vars": {"PORT": str(ports["here"]), "IMAGE": here}},
                "lab": ssh_host(ssh, far, PORT=str(ports["lab"]), IMAGE=lab),
                "third": {"url": f"tcp://127.0.0.1:{third.tcp[0]}", "tls": str(third.tcp[1]),
                          "vars": {"PORT": str(ports["third"]), "IMAGE": thr}}}

    try:
        repo.intent("roll_web", "hosts: [here, third, lab]\nparallel: 3")
        everywhere = hosts(v1, v1, v1)
        first = chatops(repo, state, everywhere, "run", "roll_web", "--local")
        assert first.returncode == 0, first.stdout + first.stderr
        assert {h: version(p) for h, p in ports.items()} == {
            "here": "v1", "lab": "v1", "third": "v1"}

        # One at a time: here gets v2, third fails (its image answers 500), lab waits.
        repo.intent("roll_web", "hosts: [here, third, lab]\nparallel: 1")
        broken = hosts(v2, v2, bad)
        second = chatops(repo, state, broken, "run", "roll_web", "--local")
        assert second.returncode == 2, second.stdout + second.stderr
        parent = last_runs(repo, state, broken)
        summary = next(r for r in parent if r["parent_id"] is None)
        assert summary["status"] == "rolled_back"
        reason = summary["reason"]
        assert reason.startswith("stopped at third | here: succeeded (run ")
        assert ", rolled back: succeeded (run " in reason
        assert " | third: rolled_back (run " in reason
        assert reason.endswith(" | lab: not started")
        # The CLI printed the same summary, one host after another.
        assert f"rolled_back: {reason}" in second.stdout
        # Every host is back on (or never left) v1.
        assert {h: version(p) for h, p in ports.items()} == {
            "here": "v1", "lab": "v1", "third": "v1"}
        # The dashboard's stacks page reads each host's engine for its own stack.
        views = overview(repo, state, broken)
        assert sorted(views) == [f"{stack}@here", f"{stack}@lab", f"{stack}@third"]
        for host, view in views.items():
            assert [c.state for c in view.containers] == ["running"], host
            assert view.engine_problem is None
    finally:
        docker("compose", "-p", stack, "down", "-t", "1", check=False)
        far.docker("compose", "-p", stack, "down", "-t", "1", check=False)
        third.docker("compose", "-p", stack, "down", "-t", "1", check=False)


def test_a_host_over_ssh_gets_secrets_decrypted_here(
        images, far: ExtraEngine, ssh: Sshd, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.sops_kit import SopsKit

    kit = SopsKit.make(tmp_path / "keys")
    monkeypatch.setenv("CHATOPS_AGE_KEY_FILE", str(kit.key_file))
    monkeypatch.setenv("CHATOPS_SECRETS_TMP", str(tmp_path / "shm"))
    stack, port = f"h-{uuid.uuid4().hex[:8]}", free_port()
    repo, state = Repo(tmp_path / "repo", stack), tmp_path / "state"
    hosts = {"lab": ssh_host(ssh, far, PORT=str(port))}
    repo.intent("deploy_web", "host: lab")
    folder = repo.root / "stacks" / stack
    try:
        repo.compose(images("v1"), "    env_file: app.env\n")
        compose = folder / "docker-compose.yml"
        compose.write_text(compose.read_text().replace(
            '      PORT: "${PORT}"', '      PORT: "${PORT}"\n      VERSION: "${APP_VERSION}"'))
        kit.encrypt(folder / ".env", "APP_VERSION=far-sealed-1\n")
        kit.encrypt(folder / "app.env", "DB_PASSWORD=far-db-password-1\n")

        done = chatops(repo, state, hosts, "run", "deploy_web", "--local")

        assert done.returncode == 0, done.stdout + done.stderr
        assert version(port) == "far-sealed-1"
        (container,) = far.docker("ps", "-q", "--filter",
                                  f"label=com.docker.compose.project={stack}").stdout.split()
        env = far.docker("inspect", "-f", "{{json .Config.Env}}", container).stdout
        assert "DB_PASSWORD=far-db-password-1" in env
        assert list((tmp_path / "shm").iterdir()) == []
        assert "far-db-password-1" not in done.stdout + done.stderr
    finally:
        far.docker("compose", "-p", stack, "down", "-t", "1", check=False)
