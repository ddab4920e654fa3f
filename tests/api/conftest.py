"""An in-process service with a real store, audit trail and guard, and a fake engine.

The fake engine stands in for Docker here only; tests/docker runs the service for real.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from chatops.engine.base import CommandResult, ContainerState
from chatops.engine.fake import FakeEngine
from chatops.notify.outbox import Outbox
from chatops.runtime import Runtime
from chatops.server.app import create_app
from chatops.server.keys import ApiKey, KeyRing, KeyStore, hash_token
from chatops.settings import Settings
from chatops.store.audit import AuditLog

GOOD = "chatops_good-key-0123456789abcdefghijklmnopqrstuv"
AUDITOR = "chatops_auditor-0123456789abcdefghijklmnopqrstuv"
LIMITED = "chatops_limited-0123456789abcdefghijklmnopqrstuv"
OPS = "chatops_ops-key-0123456789abcdefghijklmnopqrstuv"

INTENT = """\
# Deploy the web stack
label_required: approved
action: rollout
stack: web
service: app
"""


@dataclass
class Api:
    client: TestClient
    root: Path
    state: Path
    engine: FakeEngine
    settings: Settings
    audit: AuditLog
    failing: set[str] = field(default_factory=set)

    def post_run(self, body: Any, key: str | None = GOOD, **headers: str) -> Any:
        hdrs = {"content-type": "application/json", **headers}
        if key is not None:
            hdrs["x-api-key"] = key
        return self.client.post("/run", content=json.dumps(body), headers=hdrs)

    def get(self, path: str, key: str | None = GOOD, **kw: Any) -> Any:
        return self.client.get(path, headers={"x-api-key": key} if key else {}, **kw)

    def audit_rows(self) -> list[dict[str, Any]]:
        return self.audit.tail(limit=1000)


def _handler(api_ref: dict[str, Api]) -> Callable[[FakeEngine, tuple[str, ...]],
                                                   CommandResult | None]:
    def handle(engine: FakeEngine, argv: tuple[str, ...]) -> CommandResult | None:
        if "config" in argv:
            body = {"name": "web", "services": {"app": {"image": "app:v2"}}}
            return CommandResult(argv, 0, 0.01, tail=[json.dumps(body)])
        api = api_ref.get("api")
        if api is not None and any(verb in argv for verb in api.failing):
            return CommandResult(argv, 1, 0.01, tail=["simulated failure"])
        if "up" in argv:
            engine.containers_by_project["web"] = [ContainerState(
                id="c" * 64, name="web-app-1", service="app", image_ref="app:v2",
                image_id="sha256:" + "2" * 64, state="running", health=None,
                restart_count=0, exit_code=0)]
        return None

    return handle


@pytest.fixture
def make_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    opened: list[TestClient] = []
    closing: list[Callable[[], None]] = []

    def make(*, peer: str = "127.0.0.1", intents: dict[str, str] | None = None,
             repo: Path | None = None, **overrides: Any) -> Api:
        root = repo or tmp_path / f"repo{len(opened)}"
        if repo is None:
            (root / "chatops" / "intents").mkdir(parents=True)
            (root / "stacks" / "web").mkdir(parents=True)
            (root / "stacks" / "web" / "docker-compose.yml").write_text(
                "services:\n  app:\n    image: app:v2\n")
            for name, text in (intents or {"deploy_web": INTENT}).items():
                (root / "chatops" / "intents" / f"{name}.yaml").write_text(
                    textwrap.dedent(text))
        state = tmp_path / f"state{len(opened)}"
        monkeypatch.setenv("CHATOPS_STATE_DIR", str(state))
        monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.2s")
        base = Settings.from_env()
        options = {"repo": root, "approved_labels": "approved", "shutdown_grace": 5.0,
                   "rate_per_key": 1000.0, "burst_per_key": 1000, **overrides}
        settings = Settings(**options)
        runtime = Runtime.open(base)
        ref: dict[str, Api] = {}
        engine = FakeEngine(handler=_handler(ref), images={"app:v2": "sha256:" + "2" * 64})
        store = KeyStore(base.paths.db)
        store.create("limited", intents="other_*", scopes=("run", "read"))
        keys = KeyRing([
            ApiKey("ci", hash_token(GOOD), scopes=("run", "read")),
            ApiKey("auditor", hash_token(AUDITOR), scopes=("read", "audit")),
            ApiKey("limited", hash_token(LIMITED), intents="other_*"),
            ApiKey("ops", hash_token(OPS), scopes=("run", "read", "override-window")),
        ])
        audit = AuditLog(state / "audit.sqlite3")
        from chatops.notify.configured import deliverers as configured

        deliverers = configured(base)
        outbox = Outbox(base.paths.outbox) if deliverers else None
        app = create_app(settings, runtime=runtime, engine=engine, keys=keys, audit=audit,
                         outbox=outbox, deliverers=deliverers)
        client = TestClient(app, client=(peer, 50000), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        closing.extend([runtime.close, store.close, audit.close])
        api = Api(client, root, state, engine, settings, audit)
        ref["api"] = api
        return api

    yield make
    for client in opened:
        client.__exit__(None, None, None)
    for close in closing:  # what the service's own process would close on its way out
        close()
