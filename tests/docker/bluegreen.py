"""Blue-green stacks for tests on the real engine: two slots of the demo service behind
a real proxy, and the helpers that watch the stable address."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chatops.store.sqlite import RunStore
from tests.docker.conftest import Images, docker, free_port, http_get, wait_for_http
from tests.policy_kit import allow_loopback
from tests.proxies.haproxy import HAProxy


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
        allow_loopback(self.root)
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


def last_run(stack: BlueGreenStack, store_dir: Path | None = None):

    store = RunStore(Path(os.environ["CHATOPS_STATE_DIR"]) / "chatops.sqlite3")
    try:
        (record,) = store.list_runs(stack=stack.name, limit=1)
        return store.get_run(record.id)
    finally:
        store.close()


class Watcher:
    """Clients asking ``path`` on the stable address all along; every answer (or
    failure) kept, in order."""

    def __init__(self, url: str, path: str = "/version", clients: int = 1,
                 pause: float = 0.02) -> None:
        self.url, self.path, self.pause = url, path, pause
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True)
                         for _ in range(clients)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = http_get(self.url + self.path, timeout=2)
                self.answers.append(f"{status} {body.strip()}")
            except OSError as exc:
                self.answers.append(f"error {exc}")
            time.sleep(self.pause)

    def __enter__(self) -> Watcher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def wait_for_status(url: str, status: int, deadline: float = 5.0) -> str:
    end = time.monotonic() + deadline
    seen = http_get(url)
    while seen[0] != status and time.monotonic() < end:
        time.sleep(0.05)
        seen = http_get(url)
    assert seen[0] == status, seen
    return seen[1]


def first_deploy(cli, bg: BlueGreenStack, haproxy: HAProxy, **intent: str) -> None:
    bg.intent(**intent)
    done = cli("traffic", "config", "web", "--repo", str(bg.root), "--write")
    assert done.code == 0, done.err
    haproxy.start()
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 0, result.out + result.err
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"


def switch_to_v2_under_watch(cli, bg: BlueGreenStack, images: Images):
    """Deploy v2 while the stable address is asked all along; every answer must come
    from v1 or v2. Returns the run's record."""
    bg.write(images("v2"))
    with Watcher(bg.url) as watcher:
        result = cli("run", "web", "--repo", str(bg.root), "--local")
        time.sleep(0.3)
    assert result.code == 0, result.out + result.err
    assert http_get(bg.url + "/version")[1].strip() == "v2"
    assert all(a in ("200 v1", "200 v2") for a in watcher.answers), set(watcher.answers)
    return last_run(bg)
