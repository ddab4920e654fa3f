"""Fuzz the whole API, over real HTTP on loopback, against the OpenAPI document it serves.

The service runs as ``chatops serve`` runs it (uvicorn with the bounded connection
protocol, the guard, the routes) on a fake engine; schemathesis' own command runs every
check in every phase, stateful included, with and without a key. Derandomized so CI is
repeatable; CHATOPS_FUZZ_RANDOM=1 explores new examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from chatops.engine.fake import FakeEngine
from chatops.runtime import Runtime
from chatops.server.app import create_app
from chatops.server.keys import ApiKey, KeyRing, hash_token
from chatops.server.serve import uvicorn_config
from chatops.settings import Settings
from chatops.store.audit import AuditLog
from tests.api.conftest import GOOD, INTENT, _handler
from tests.served import free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "repo" / "chatops" / "intents").mkdir(parents=True)
    (root / "repo" / "chatops" / "intents" / "deploy_web.yaml").write_text(INTENT)
    (root / "repo" / "stacks" / "web").mkdir(parents=True)
    (root / "repo" / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: app:v2\n")
    saved = dict(os.environ)
    os.environ["CHATOPS_STATE_DIR"] = str(root / "state")
    try:
        base = Settings.from_env()
        settings_ = Settings(repo=root / "repo", approved_labels="approved",
                                   port=free_port(),
                                   rate_per_address=100000, burst_per_address=100000,
                                   rate_per_key=100000, burst_per_key=100000,
                                   lockout_failures=100000, key_failure_budget=100000,
                                   shutdown_grace=2,
                                   forge_webhook_secret="fuzz-webhook-secret-0123456789")
        runtime = Runtime.open(base)
        # Runs the fuzzer starts go nowhere: the fake engine answers "docker compose".
        # Runs succeed, so "wait": true answers 200 (a failed run would be the 500 the
        # contract documents, which the server-error check cannot tell apart).
        engine = FakeEngine(handler=_handler({}), images={"app:v2": "sha256:" + "2" * 64})
        app = create_app(settings_, runtime=runtime, engine=engine,
                         keys=KeyRing([ApiKey("ci", hash_token(GOOD),
                                              scopes=("run", "read", "audit"))]),
                         audit=AuditLog(base.state_dir / "audit.sqlite3"))
        server = uvicorn.Server(uvicorn_config(app, settings_))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{settings_.port}"
        server.should_exit = True
        thread.join(10)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def schemathesis(served: str, *headers: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    argv = [str(exe), "--config-file", str(CONFIG), "--no-color", "run",
            f"{served}/openapi.json", "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15",
            # The key is ours to send; schemathesis generates everything else.
            "--generation-with-security-parameters", "false", "--continue-on-failure",
            "--request-timeout", "20"]
    if not os.environ.get("CHATOPS_FUZZ_RANDOM"):
        argv += ["--generation-deterministic"]
    else:
        argv += ["--generation-database", "none"]
    for header in headers:
        argv += ["-H", header]
    # Run elsewhere: schemathesis keeps a cache folder in its working directory.
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          cwd=tempfile.gettempdir())


def test_every_check_in_every_phase_is_clean_with_a_key(served: str) -> None:
    done = schemathesis(served, f"X-API-Key: {GOOD}")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "Stateful" in done.stdout
    assert "Tested: 26" in done.stdout, done.stdout[-3000:]


def test_every_check_in_every_phase_is_clean_without_a_key(served: str) -> None:
    done = schemathesis(served)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]


def test_openapi_document_declares_the_keys_the_limits_and_every_refusal(served: str) -> None:
    doc = httpx.get(f"{served}/openapi.json").json()
    assert {"/run", "/runs", "/runs/{run_id}", "/runs/{run_id}/log", "/intents",
            "/intents/{name}", "/validate", "/healthz", "/readyz", "/metrics",
            "/audit"} <= set(doc["paths"])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {**schemes["ApiKeyHeader"], "type": "apiKey",
                                       "in": "header", "name": "X-API-Key"}
    assert schemes["BearerToken"]["scheme"] == "bearer"
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    run = doc["paths"]["/run"]["post"]["responses"]
    assert {"401", "403", "408", "413", "414", "415", "422", "429", "431", "503"} <= set(run)
    assert "Retry-After" in run["429"]["headers"]
    assert doc["info"]["x-limits"]["max_header_bytes"] == 32 * 1024
    assert "request body 65536 bytes" in doc["info"]["description"]
    assert run["200"]["links"]["GetRun"]["parameters"] == {"run_id": "$response.body#/id"}
