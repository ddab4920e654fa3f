"""chatops's container image, built from the project's Dockerfile on a Debian base made
here from Debian's own packages (debootstrap, then ``docker import``: no image hub is
reachable), started as its non-root user with the engine's socket and the GitOps checkout
mounted, deploys a stack through that socket and shows the run over its API. Its first
start with no key prints one key, once."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from tests.docker.conftest import UID, Images, demo_compose, docker, free_port, wait_for_http
from tests.policy_kit import LOOPBACK_POLICY
from tests.unit.test_gitops import World


def test_the_image_deploys_a_stack_through_the_mounted_socket(image: str, images: Images,
                                                               tmp_path: Path) -> None:
    stack, port, api = f"img{uuid.uuid4().hex[:8]}", free_port(), free_port()
    world = World.create(tmp_path, {
        f"stacks/{stack}/docker-compose.yml": demo_compose(images("v2"), port),
        f"chatops/intents/rollout_{stack}.yaml":
            f"label_required: approved\naction: rollout\nstack: {stack}\n",
        "chatops/policy.yaml": LOOPBACK_POLICY})
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(tmp_path)], check=True)
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    name, volume = f"chatops-img-{uuid.uuid4().hex[:8]}", f"chatops-img-{uuid.uuid4().hex[:8]}"
    run = ["run", "-d", "--name", name, "--network", "host", "--group-add", str(socket_gid),
           "-v", "/var/run/docker.sock:/var/run/docker.sock",
           "-v", f"{world.host}:{world.host}", "-v", f"{volume}:/state",
           "-e", f"CHATOPS_REPO={world.host}", "-e", f"CHATOPS_PORT={api}",
           "-e", "CHATOPS_HOST=127.0.0.1", "-e", "APPROVED_LABEL=approved", image]
    try:
        docker(*run)
        up = _healthz(api)
        assert up < 30, up  # the figure is bench/image.py's; this only says it came up
        logs = docker("logs", name).stdout + docker("logs", name).stderr
        tokens = [ln for ln in logs.splitlines() if ln.startswith("chatops_")]
        assert len(tokens) == 1, logs[-2000:]
        key = tokens[0].strip()
        user = docker("exec", name, "id", "-u").stdout.strip()
        assert user == str(UID)  # not root
        started = httpx.post(f"http://127.0.0.1:{api}/run", json={"name": f"rollout_{stack}"},
                             headers={"X-API-Key": key}, timeout=30)
        assert started.status_code == 200, started.text
        run_id = started.json()["id"]
        record = _ended(api, key, run_id)
        assert record["status"] == "succeeded", record
        wait_for_http(f"http://127.0.0.1:{port}/version", "v2")
        # A restart keeps its key and prints none.
        docker("restart", "-t", "5", name)
        _healthz(api)
        again = docker("logs", name).stdout
        assert [ln for ln in again.splitlines() if ln.startswith("chatops_")] == tokens
        health = docker("inspect", "-f", "{{.Config.Healthcheck.Test}}", name).stdout
        assert "/healthz" in health
    finally:
        docker("rm", "-f", name, check=False)
        docker("volume", "rm", "-f", volume, check=False)
        docker("compose", "-p", stack, "down", "-v", "--timeout", "1", check=False)


def _healthz(port: int, deadline: float = 60) -> float:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the container's /healthz never answered")


def _ended(port: int, key: str, run_id: str, deadline: float = 120) -> dict[str, object]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        record = httpx.get(f"http://127.0.0.1:{port}/runs/{run_id}",
                           headers={"X-API-Key": key}, timeout=10).json()
        if record["status"] not in ("queued", "running"):
            return dict(record)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never ended")
