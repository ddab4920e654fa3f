"""Fixtures for tests on the real engine (scripts/harness.sh starts it).

Each test gets a fresh stack folder with its own compose project name and free
loopback ports; everything it started is removed afterwards (``down -v``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.policy_kit import allow_loopback

if TYPE_CHECKING:
    from tests.docker.bluegreen import BlueGreenStack
    from tests.proxies.haproxy import HAProxy

REGISTRY = os.environ.get("CHATOPS_TEST_REGISTRY", "127.0.0.1:5000")
DEMO = f"{REGISTRY}/chatops-demo"


def _unavailable() -> str | None:
    reason = os.environ.get("CHATOPS_DOCKER_UNAVAILABLE")
    if reason:
        return reason
    probes = {
        "the Docker engine does not answer (docker info)": ["docker", "info"],
        "Compose v2 is missing (docker compose version)": ["docker", "compose", "version"],
    }
    for what, argv in probes.items():
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return what
        if done.returncode != 0:
            return what
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5):
            pass
    except (OSError, urllib.error.URLError):
        return f"the local registry does not answer on {REGISTRY}"
    return None


@pytest.fixture(scope="session")
def engine() -> None:
    """Skip (or, with CHATOPS_REQUIRE_DOCKER=1 as in CI, fail) when the engine is not there."""
    reason = _unavailable()
    if reason is None:
        return
    message = f"real-engine test needs scripts/harness.sh: {reason}"
    if os.environ.get("CHATOPS_REQUIRE_DOCKER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback test URL
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_for_http(url: str, expect: str, deadline: float = 15.0) -> str:
    """Poll ``url`` until its body contains ``expect``; return the body."""
    end = time.monotonic() + deadline
    last = ""
    while time.monotonic() < end:
        try:
            _, last = http_get(url)
            if expect in last:
                return last
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {expect!r}; last answer: {last!r}")


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def demo_compose(image: str, port: int, *, name: str | None = None,
                 service: str = "web") -> str:
    """A compose file of the harness's demo image on loopback: host networking, the port
    in ``PORT``, and ``init`` (busybox as PID 1 ignores SIGTERM: every stop would take
    10 s)."""
    head = f"name: {name}\n" if name else ""
    return (f"{head}services:\n  {service}:\n    image: {image}\n    network_mode: host\n"
            f"    init: true\n    environment:\n      PORT: \"{port}\"\n")


@dataclass
class DemoStack:
    """A one-service stack of the busybox demo image, on a free loopback port."""

    root: Path
    name: str
    port: int = field(default_factory=free_port)
    service: str = "web"

    @property
    def dir(self) -> Path:
        return self.root / "stacks" / self.name

    @property
    def compose_file(self) -> Path:
        return self.dir / "docker-compose.yml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, image: str) -> None:
        # network_mode host + a 127.0.0.1 bind: tests only ever talk to loopback.
        # init: busybox as PID 1 ignores SIGTERM, so every stop would take 10 s.
        self.dir.mkdir(parents=True, exist_ok=True)
        allow_loopback(self.root)
        self.compose_file.write_text(demo_compose(image, self.port, name=self.name,
                                                  service=self.service))

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("compose", "-f", str(self.compose_file), *args, check=check)


class Images:
    """Per-test copies of the demo images under a unique repository name.

    A rollback re-tags images locally, so tests never share a local tag: each copy is
    pulled from the registry (which nothing re-tags) and pushed under its own name.
    """

    def __init__(self) -> None:
        self.repo = f"{REGISTRY}/t-{uuid.uuid4().hex[:10]}"
        self.made: list[str] = []

    def __call__(self, variant: str, *, as_tag: str | None = None, push: bool = True) -> str:
        docker("pull", "-q", f"{DEMO}:{variant}")
        ref = f"{self.repo}:{as_tag or variant}"
        docker("tag", f"{DEMO}:{variant}", ref)
        if push:
            docker("push", "-q", ref)
        self.made.append(ref)
        return ref

    def drop_local(self, ref: str) -> None:
        docker("rmi", ref, check=False)

    def cleanup(self) -> None:
        for ref in self.made:
            docker("rmi", ref, check=False)


UID = 10001  # the image's chatops user


@pytest.fixture(scope="session")
def image(engine: None) -> Iterator[str]:
    """chatops's image, built once from the Dockerfile on a Debian base made here."""
    tag = f"chatops-test:{uuid.uuid4().hex[:10]}"
    root = Path(__file__).resolve().parents[2]
    built = subprocess.run([str(root / "scripts" / "image.sh"), "--local-base", tag],
                           capture_output=True, text=True, timeout=1800, check=False,
                           env={**os.environ, "PYTHON": sys.executable})
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    try:
        yield tag
    finally:
        docker("rmi", "-f", tag, check=False)


@pytest.fixture
def images(engine: None) -> Iterator[Images]:
    made = Images()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def demo_stack(engine: None, images: Images, tmp_path: Path) -> Iterator[DemoStack]:
    stack = DemoStack(root=tmp_path / "repo", name=f"ct-{uuid.uuid4().hex[:10]}")
    stack.write(images("v1"))
    try:
        yield stack
    finally:
        # By project name, not file: a test may have left the compose file invalid.
        docker("compose", "-p", stack.name, "down", "-v", "--remove-orphans", "--timeout", "1",
               check=False)


# -- blue-green: the demo service in two slots behind a real HAProxy --------------------

@pytest.fixture
def haproxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HAProxy]:
    """A real HAProxy for the test (started by the test, once chatops wrote its backend)."""
    from tests.proxies.haproxy import HAProxy

    proxy = HAProxy(tmp_path / "haproxy")
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def bg(engine: None, images: Images, tmp_path: Path) -> Iterator[BlueGreenStack]:
    """A one-service stack deployed blue-green (both slots removed afterwards)."""
    from tests.docker.bluegreen import BlueGreenStack

    stack = BlueGreenStack(root=tmp_path / "repo", name=f"bg-{uuid.uuid4().hex[:8]}")
    stack.write(images("v1"))
    try:
        yield stack
    finally:
        for slot in ("blue", "green"):
            docker("compose", "-p", stack.project(slot), "down", "-v", "--timeout", "1",
                   check=False)
