"""Fuzz the whole API, over real HTTP on loopback, against the OpenAPI document it serves.

With and without a valid key: no 5xx, and every answer (status, content type, body)
matches the document. Bounded examples, so it runs in CI.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatops.engine.fake import FakeEngine
from chatops.runtime import Runtime
from chatops.server.app import create_app
from chatops.server.audit import AuditLog
from chatops.server.keys import ApiKey, KeyRing, hash_token
from chatops.server.settings import ServerSettings
from chatops.settings import Settings
from tests.api.conftest import GOOD, INTENT

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "repo" / "chatops" / "intents").mkdir(parents=True)
    (root / "repo" / "chatops" / "intents" / "deploy_web.yaml").write_text(INTENT)
    saved = dict(os.environ)
    os.environ["CHATOPS_STATE_DIR"] = str(root / "state")
    try:
        base = Settings.from_env()
        settings_ = ServerSettings(repo=root / "repo", approved_labels="approved",
                                   rate_per_address=100000, burst_per_address=100000,
                                   rate_per_key=100000, burst_per_key=100000,
                                   lockout_failures=100000, key_failure_budget=100000,
                                   shutdown_grace=2,
                                   github_webhook_secret="fuzz-webhook-secret-0123456789")
        runtime = Runtime.open(base)
        # Runs the fuzzer starts go nowhere: the fake engine answers "docker compose".
        app = create_app(settings_, runtime=runtime, engine=FakeEngine(),
                         keys=KeyRing([ApiKey("ci", hash_token(GOOD),
                                              scopes=("run", "read", "audit"))]),
                         audit=AuditLog(base.state_dir / "audit.sqlite3"))
        port = _port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="error", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(10)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# Derandomized so CI is repeatable; CHATOPS_FUZZ_RANDOM=1 explores new examples locally.
FUZZ = settings(max_examples=15, deadline=None, database=None,
                derandomize=not os.environ.get("CHATOPS_FUZZ_RANDOM"),
                suppress_health_check=list(HealthCheck))


def _fuzz(served: str, headers: dict[str, str]) -> list[str]:
    """Run every operation of the served document; return the operations fuzzed."""
    # Driven by hand rather than through schemathesis' pytest plugin, which does not
    # load under this pytest version.
    api_schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    seen = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=served, headers=headers, checks=CHECKS)

        check()
        seen.append(f"{operation.method.upper()} {operation.path}")
    return seen


def test_api_with_a_valid_key(served: str) -> None:
    seen = _fuzz(served, {"X-API-Key": GOOD})
    assert "POST /run" in seen
    assert len(seen) >= 11


def test_api_without_a_key(served: str) -> None:
    assert len(_fuzz(served, {})) >= 11


def test_openapi_document_is_served(served: str) -> None:
    import httpx

    doc = httpx.get(f"{served}/openapi.json").json()
    assert {"/run", "/runs", "/runs/{run_id}", "/runs/{run_id}/log", "/intents",
            "/intents/{name}", "/validate", "/healthz", "/readyz", "/metrics",
            "/audit"} <= set(doc["paths"])
