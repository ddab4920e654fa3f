"""The run history's tables, and how an older file is brought up to them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatops.errors import StoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    intent TEXT NOT NULL,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    client TEXT NOT NULL,
    sha TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    pid INTEGER,
    host TEXT,
    plan TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_intent ON runs (intent, created_at);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at, id);
CREATE TABLE IF NOT EXISTS run_stacks (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stack TEXT NOT NULL,
    PRIMARY KEY (run_id, stack)
);
CREATE INDEX IF NOT EXISTS run_stacks_by_stack ON run_stacks (stack);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    doc INTEGER NOT NULL,
    phase TEXT NOT NULL,
    description TEXT NOT NULL,
    argv TEXT NOT NULL,
    started_at TEXT NOT NULL,
    exit_code INTEGER,
    timed_out INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    duration REAL,
    output_tail TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    doc INTEGER NOT NULL,
    kind TEXT NOT NULL,
    stack TEXT NOT NULL,
    data TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (run_id, doc, kind)
);
CREATE INDEX IF NOT EXISTS snapshots_by_stack ON snapshots (stack, kind);
CREATE TABLE IF NOT EXISTS gates (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    doc INTEGER NOT NULL,
    phase TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL,
    duration REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ts TEXT NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_run ON log (run_id, id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key_name TEXT NOT NULL,
    idem TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key_name, idem)
);
CREATE TABLE IF NOT EXISTS standby (
    stack TEXT NOT NULL,
    service TEXT NOT NULL,
    slot TEXT NOT NULL,
    project TEXT NOT NULL,
    until TEXT NOT NULL,
    traffic TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (stack, service)
);
CREATE TABLE IF NOT EXISTS run_signals (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    signal TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    who TEXT NOT NULL,
    verdict TEXT NOT NULL,
    via TEXT NOT NULL,
    client TEXT NOT NULL,
    sha TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, who)
);
CREATE TABLE IF NOT EXISTS forge_approvals (
    sha TEXT PRIMARY KEY,
    pull_request TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commit_outcomes (
    sha TEXT NOT NULL,
    intent TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (sha, intent)
);
CREATE TABLE IF NOT EXISTS previews (
    number INTEGER NOT NULL,
    stack TEXT NOT NULL,
    intent TEXT NOT NULL,
    project TEXT NOT NULL,
    head TEXT NOT NULL,
    port INTEGER NOT NULL UNIQUE,
    hosts TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (number, stack)
);
CREATE TABLE IF NOT EXISTS plan_comments (
    number INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handoffs (
    run_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    container TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pull_heads (
    number INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_pushes (
    ref TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (ref, before, after)
);
"""

#: Columns added after the first release (each TEXT), for files written before them.
ADDED_COLUMNS = (("runs", "pull_request"), ("runs", "parent_id"), ("runs", "rollback_of"),
                 ("runs", "traffic"), ("runs", "approval"), ("idempotency", "fingerprint"))


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create what is missing, add the columns later versions added (in a transaction)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    for table, column in ADDED_COLUMNS:
        if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) > SCHEMA_VERSION:
        raise StoreError(
            f"the run history at {path} was written by a newer chatops "
            f"(schema {row[0]}); upgrade chatops"
        )
