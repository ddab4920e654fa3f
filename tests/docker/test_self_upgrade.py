"""chatops upgrades itself like any stack (strategy ``self-upgrade``): the image, run by
Compose from a stack in its own GitOps checkout, is asked over its API to roll out a new
image of itself. A helper container recreates it; the new chatops reports healthy and
finishes the run that the old one started. A new image that does not come up is replaced
by the old one again, and the old chatops, back, closes the run as rolled back."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

from tests.docker.conftest import REGISTRY, UID, docker, free_port
from tests.unit.test_gitops import World

POLICY = """\
exceptions:
  - name: chatops-itself
    match: {stacks: ["chatops"]}
    allow: [host_network, docker_socket, bind_outside_roots]
    always: true
    reason: chatops runs itself beside the engine's socket, on loopback in the harness
"""


def _compose(ref: str, project: str, api: int, repo: Path, key: str) -> str:
    gid = os.stat("/var/run/docker.sock").st_gid
    return f"""\
name: {project}
services:
  chatops:
    image: {ref}
    network_mode: host
    group_add: ["{gid}"]
    environment:
      CHATOPS_PORT: "{api}"
      CHATOPS_HOST: 127.0.0.1
      CHATOPS_REPO: {repo}
      CHATOPS_API_KEY: {key}
      APPROVED_LABEL: approved
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - {repo}:{repo}
      - state:/state
volumes:
  state: {{}}
"""


def _variant(base: str, repo: str, tag: str, dockerfile: str) -> str:
    """An image built on ``base`` (no context, no network), pushed as ``repo:tag``."""
    ref = f"{repo}:{tag}"
    built = subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input=dockerfile,
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    docker("push", "-q", ref, timeout=300)
    return ref


def _image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def _running_image(project: str) -> str:
    ids = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
                 ).stdout.split()
    assert len(ids) == 1, ids
    return docker("inspect", "-f", "{{.Image}}", ids[0]).stdout.strip()


def _sync(world: World, files: dict[str, str]) -> None:
    world.commit(files, "upgrade chatops")
    subprocess.run(["git", "-c", "safe.directory=*", "-C", str(world.host), "pull", "-q",
                    "--ff-only"], check=True, capture_output=True)
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(world.host)], check=True)


def _answers(api: int, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("chatops's /healthz never answered")


def _ended(api: int, key: str, run_id: str, deadline: float = 180) -> dict[str, object]:
    """The run's record once final, asked of whichever chatops answers (the old one goes
    away mid-run; the next one answers on the same port)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            record = httpx.get(f"http://127.0.0.1:{api}/runs/{run_id}",
                               headers={"X-API-Key": key}, timeout=5)
            if record.status_code == 200 and record.json()["status"] not in (
                    "queued", "running"):
                return dict(record.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} never ended")


def _took(record: dict[str, object]) -> float:
    start, end = (datetime.fromisoformat(str(record[k])) for k in ("started_at", "ended_at"))
    return (end - start).total_seconds()


def _upgrade(api: int, key: str) -> str:
    started = httpx.post(f"http://127.0.0.1:{api}/run", json={"name": "upgrade"},
                         headers={"X-API-Key": key}, timeout=60)
    assert started.status_code == 200, started.text
    return str(started.json()["id"])


def test_chatops_upgrades_itself_and_rolls_itself_back(image: str, tmp_path: Path) -> None:
    repo = f"{REGISTRY}/chatops-self-{uuid.uuid4().hex[:8]}"
    v1 = _variant(image, repo, "v1", f"FROM {image}\n")
    v2 = _variant(image, repo, "v2", f"FROM {image}\nLABEL chatops.test=v2\n")
    broken = _variant(image, repo, "broken",
                      f'FROM {image}\nENTRYPOINT ["sh", "-c", "echo broken; exit 3"]\n')
    project, api, key = f"self{uuid.uuid4().hex[:8]}", free_port(), "k-" + uuid.uuid4().hex
    host = tmp_path / "host"
    stack = "stacks/chatops/docker-compose.yml"
    world = World.create(tmp_path, {
        stack: _compose(v1, project, api, host, key),
        "chatops/intents/upgrade.yaml": (
            "label_required: approved\naction: rollout\nstack: chatops\nservice: chatops\n"
            "strategy: self-upgrade\nhealth:\n"
            f"  - http: http://127.0.0.1:{api}/healthz\n    within: 30s\n"),
        "chatops/policy.yaml": POLICY})
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(host)], check=True)
    compose = ["compose", "-f", str(host / stack)]
    try:
        docker(*compose, "up", "-d", timeout=120)
        _answers(api)
        assert _running_image(project) == _image_id(v1)

        _sync(world, {stack: _compose(v2, project, api, host, key)})
        run_id = _upgrade(api, key)
        record = _ended(api, key, run_id)
        assert record["status"] == "succeeded", record
        print(f"self-upgrade: {_took(record):.2f} s from start to end")
        assert _running_image(project) == _image_id(v2)
        log = httpx.get(f"http://127.0.0.1:{api}/runs/{run_id}/log",
                        headers={"X-API-Key": key}, timeout=10).text
        assert "upgrade helper" in log, log[-3000:]
        assert "finishes this run" in log, log[-3000:]

        _sync(world, {stack: _compose(broken, project, api, host, key)})
        run_id = _upgrade(api, key)
        record = _ended(api, key, run_id)
        assert record["status"] == "rolled_back", record
        print(f"self-upgrade rolled back: {_took(record):.2f} s from start to end")
        assert "exited" in str(record["reason"]), record
        _answers(api)
        assert _running_image(project) == _image_id(v2)  # the old image, back in place
    finally:
        docker(*compose, "down", "-v", "--timeout", "2", check=False)
        for ref in (v1, v2, broken):
            docker("rmi", "-f", ref, check=False)
