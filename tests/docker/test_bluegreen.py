"""Blue-green deploys on the real engine, behind a real HAProxy on loopback."""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chatops.store.sqlite import RunStore
from tests.docker.conftest import Images, docker, free_port, http_get, wait_for_http
from tests.proxies.haproxy import HAProxy

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


@dataclass
class BlueGreenStack:
    """A one-service stack deployed blue-green: each slot binds ${CHATOPS_SLOT_PORT}."""

    root: Path
    name: str
    listen: int = field(default_factory=free_port)
    blue: int = field(default_factory=free_port)
    green: int = field(default_factory=free_port)

    @property
    def dir(self) -> Path:
        return self.root / "stacks" / self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen}"

    def project(self, slot: str) -> str:
        return f"{self.name}-web-{slot}"

    def write(self, image: str, extra: str = "") -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "docker-compose.yml").write_text(textwrap.dedent(f"""\
            services:
              web:
                image: {image}
                network_mode: host
                init: true
                environment:
                  PORT: "${{CHATOPS_SLOT_PORT:?chatops sets it for each slot}}"
            """) + extra)

    def intent(self, *, smoke: str = "", health: str = "", extra: str = "") -> str:
        folder = self.root / "chatops" / "intents"
        folder.mkdir(parents=True, exist_ok=True)
        body = textwrap.dedent(f"""\
            # Deploy {self.name} blue-green
            label_required: approved
            action: rollout
            stack: {self.name}
            service: web
            strategy: blue-green
            traffic:
              driver: haproxy
              listen: 127.0.0.1:{self.listen}
              ports: {{blue: {self.blue}, green: {self.green}}}
              drain: 5s
            """) + smoke + (health or textwrap.dedent(f"""\
            health:
              - http: {self.url}/cgi-bin/health
                within: 8s
                interval: 100ms
            """)) + extra
        (folder / "web.yaml").write_text(body)
        return "web"

    def containers(self, slot: str) -> list[dict[str, str]]:
        out = docker("ps", "-a", "--filter", f"label=com.docker.compose.project="
                     f"{self.project(slot)}", "--format", "{{json .}}").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def haproxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HAProxy]:
    proxy = HAProxy(tmp_path / "haproxy")
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def bg(engine: None, images: Images, tmp_path: Path) -> Iterator[BlueGreenStack]:
    stack = BlueGreenStack(root=tmp_path / "repo", name=f"bg-{uuid.uuid4().hex[:8]}")
    stack.write(images("v1"))
    try:
        yield stack
    finally:
        for slot in ("blue", "green"):
            docker("compose", "-p", stack.project(slot), "down", "-v", "--timeout", "1",
                   check=False)


def last_run(stack: BlueGreenStack, store_dir: Path | None = None):
    import os

    store = RunStore(Path(os.environ["CHATOPS_STATE_DIR"]) / "chatops.sqlite3")
    try:
        (record,) = store.list_runs(stack=stack.name, limit=1)
        return store.get_run(record.id)
    finally:
        store.close()


class Watcher:
    """Asks the stable address all along, and keeps every answer (or failure)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = http_get(self.url + "/version", timeout=2)
                self.answers.append(f"{status} {body.strip()}")
            except OSError as exc:
                self.answers.append(f"error {exc}")
            time.sleep(0.02)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def first_deploy(cli, bg: BlueGreenStack, haproxy: HAProxy, **intent: str) -> None:
    bg.intent(**intent)
    done = cli("traffic", "config", "web", "--repo", str(bg.root), "--write")
    assert done.code == 0, done.err
    haproxy.start()
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 0, result.out + result.err
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"


def test_a_good_version_switches_and_the_old_slot_drains(cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)
    first = last_run(bg)
    assert first.traffic["before"] == "blue"
    assert first.traffic["after"] == "green"
    bg.write(images("v2"))

    with Watcher(bg.url) as watcher:
        result = cli("run", "web", "--repo", str(bg.root), "--local")
        time.sleep(0.3)

    assert result.code == 0, result.out + result.err
    assert http_get(bg.url + "/version")[1].strip() == "v2"
    assert all(a in ("200 v1", "200 v2") for a in watcher.answers), set(watcher.answers)
    record = last_run(bg)
    assert record.status == "succeeded"
    traffic = record.traffic
    assert (traffic["before"], traffic["after"]) == ("green", "blue")
    assert traffic["switched"] is True
    assert traffic["drain_left"] == 0
    assert traffic["failed_requests"] == 0
    assert traffic["standby"]["slot"] == "green"
    # The old slot is stopped, not removed: going back is a switch.
    (old,) = bg.containers("green")
    assert old["State"] == "exited"
    # HAProxy's file names the new slot: a restarted HAProxy keeps routing to it.
    haproxy.stop()
    haproxy.start()
    assert wait_for_http(bg.url + "/version", "v2").strip() == "v2"

