"""``chatops trigger`` against a real service over loopback HTTP, as a CI job uses it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from chatops.engine.fake import FakeEngine
from chatops.runtime import Runtime
from chatops.server.app import create_app
from chatops.server.keys import ApiKey, KeyRing, hash_token
from chatops.settings import Settings
from chatops.store.audit import AuditLog
from tests.api.conftest import GOOD, INTENT, _handler


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text("services: {app: {image: x}}\n")
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(INTENT)
    monkeypatch.setenv("CHATOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.2s")
    base = Settings.from_env()
    ref: dict = {}
    engine = FakeEngine(handler=_handler(ref))
    app = create_app(Settings(repo=repo, approved_labels="approved", shutdown_grace=2),
                     runtime=Runtime.open(base), engine=engine,
                     keys=KeyRing([ApiKey("ci", hash_token(GOOD))]),
                     audit=AuditLog(base.state_dir / "audit.sqlite3"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    monkeypatch.setenv("CHATOPS_API_KEY", GOOD)
    yield f"http://127.0.0.1:{port}", ref
    server.should_exit = True
    thread.join(10)


class _Failing:
    def __init__(self) -> None:
        self.failing = {"pull"}


def test_trigger_waits_and_exits_with_the_outcome(cli, service) -> None:
    url, _ = service
    result = cli("trigger", "deploy_web", "--url", url, "--wait")
    assert result.code == 0, result.out + result.err
    assert "accepted" in result.out
    assert result.out.rstrip().endswith("succeeded")


def test_trigger_failure_is_non_zero_with_an_actions_annotation_and_summary(
    cli, service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, ref = service
    ref["api"] = _Failing()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("trigger", "deploy_web", "--url", url, "--wait")
    assert result.code == 1
    assert "::error title=chatops::deploy_web: failed" in result.out
    text = summary.read_text()
    assert "| deploy_web |" in text
    assert "| failed |" in text


def test_trigger_refused_is_4(cli, service, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = service
    monkeypatch.setenv("CHATOPS_API_KEY", "wrong")
    result = cli("trigger", "deploy_web", "--url", url)
    assert result.code == 4
    assert "401: invalid_key" in result.err


def test_trigger_without_a_key_or_service(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATOPS_API_KEY", raising=False)
    assert cli("trigger", "x", "--url", "http://127.0.0.1:9").code == 4
    monkeypatch.setenv("CHATOPS_API_KEY", "k")
    result = cli("trigger", "x", "--url", "http://127.0.0.1:9")
    assert result.code == 4
    assert "cannot reach" in result.err
