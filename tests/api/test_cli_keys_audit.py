"""``chatops keys`` and ``chatops audit``: tokens shown once, tampering caught."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from chatops.server.keys import KeyRing, KeyStore
from chatops.settings import Settings
from chatops.store.audit import AuditLog


def test_keys_create_prints_the_token_once_and_stores_only_its_hash(cli) -> None:
    created = cli("keys", "create", "github-ci", "--intents", "rollout_*", "--stacks",
                  "stack-media")
    assert created.code == 0
    token = created.out.strip()
    assert token.startswith("chatops_")
    assert len(token) > 40
    db = Settings.from_env().paths.db
    assert token not in db.read_bytes().decode("latin-1")
    listed = json.loads(cli("keys", "list", "--format", "json").out)
    assert listed == [{"name": "github-ci", "intents": "rollout_*", "stacks": ["stack-media"],
                       "actions": [], "scopes": ["run", "read"],
                       "created_at": listed[0]["created_at"], "revoked_at": None}]
    store = KeyStore(db)
    key = KeyRing(store.all()).match(token)
    assert key is not None
    assert key.refusal("rollout_stack_media", ["stack-media"], ["rollout"]) is None
    assert "may not deploy stack" in (key.refusal("rollout_x", ["other"], ["rollout"]) or "")


def test_keys_revoke_and_duplicates(cli) -> None:
    token = cli("keys", "create", "ci").out.strip()
    again = cli("keys", "create", "ci")
    assert again.code == 4
    assert "exists already" in again.err
    assert cli("keys", "revoke", "ci").code == 0
    store = KeyStore(Settings.from_env().paths.db)
    assert KeyRing(store.all()).match(token) is None
    assert cli("keys", "revoke", "ci").code == 4


def test_keys_create_refuses_bad_input(cli) -> None:
    assert cli("keys", "create", "../evil").code == 4
    bad = cli("keys", "create", "x", "--actions", "deploy")
    assert bad.code == 2
    assert "unknown action 'deploy'" in bad.err


def _trail(n: int) -> Path:
    path = Settings.from_env().state_dir / "audit.sqlite3"
    log = AuditLog(path)
    for i in range(n):
        log.record(client="127.0.0.1", method="POST", endpoint="/run", decision="refused",
                   reason="invalid_key", status=401, request_id=f"r{i}")
    log.close()
    return path


def test_audit_verify_passes_an_untouched_trail(cli) -> None:
    _trail(5)
    result = cli("audit", "verify")
    assert result.code == 0
    assert "5 records" in result.out


def test_audit_verify_catches_an_edited_record(cli) -> None:
    path = _trail(5)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit SET decision='accepted', status=200 WHERE seq=3")
    result = cli("audit", "verify")
    assert result.code == 1
    assert "record 3 was edited" in result.out


def test_audit_verify_catches_a_deleted_record(cli) -> None:
    path = _trail(5)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM audit WHERE seq=2")
    result = cli("audit", "verify")
    assert result.code == 1
    assert "record 2 is missing" in result.out


def test_audit_verify_catches_records_cut_from_the_end(cli) -> None:
    path = _trail(5)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM audit WHERE seq>=4")
    result = cli("audit", "verify")
    assert result.code == 1
    assert "removed from the end" in result.out


def test_audit_tail(cli) -> None:
    _trail(3)
    rows = json.loads(cli("audit", "tail", "-n", "2", "--format", "json").out)
    assert [r["request_id"] for r in rows] == ["r1", "r2"]


def test_two_writers_on_one_audit_file_lose_no_record_and_keep_one_chain(tmp_path) -> None:
    from chatops.store.audit import AuditLog

    first, second = AuditLog(tmp_path / "audit.sqlite3"), AuditLog(tmp_path / "audit.sqlite3")
    for i in range(5):
        for log in (first, second):
            log.record(client="127.0.0.1", method="POST", endpoint="/run",
                       decision="accepted", status=200, request_id=f"r{i}")
            log.flush()
    result = first.verify()
    assert (result.ok, result.records) == (True, 10), result.problem
