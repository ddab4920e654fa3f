"""SQLite run history (WAL), shared safely by the CLI and the server.

Every write is its own short transaction, so a crash loses at most the line being
written; a run killed mid-way is found by ``recover_interrupted`` on the next start.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chatops.errors import RunNotFoundError, StoreError
from chatops.masking import Masker
from chatops.paths import private_file
from chatops.store.records import RunRecord, RunStatus

SCHEMA_VERSION = 1
MAX_LOG_LINES_PER_RUN = 20_000

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
CREATE TABLE IF NOT EXISTS webhook_pushes (
    ref TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (ref, before, after)
);
"""


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """Sortable by creation time, unguessable enough to not collide: 20261126-153012-a1b2c3."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class RunStore:
    """The run history. Every text it is given passes ``masker`` first: no secret the
    service knows is written (and so shown by the API, the pages or chat)."""

    def __init__(self, path: Path, masker: Masker | None = None) -> None:
        self.path = path
        self.masker = masker if masker is not None else Masker()
        self._log_counts: dict[str, int] = {}
        try:
            private_file(path)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run history at {path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {path.parent}: "
                             f"{exc.strerror}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"run history write failed ({self.path}): {exc}") from None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise StoreError(f"run history read failed ({self.path}): {exc}") from None

    def _migrate(self) -> None:
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
            if "pull_request" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN pull_request TEXT")
            if "parent_id" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN parent_id TEXT")
            if "rollback_of" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN rollback_of TEXT")
            if "traffic" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN traffic TEXT")
            if "approval" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN approval TEXT")
            idem = {r[1] for r in db.execute("PRAGMA table_info(idempotency)")}
            if "fingerprint" not in idem:
                db.execute("ALTER TABLE idempotency ADD COLUMN fingerprint TEXT")
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"the run history at {self.path} was written by a newer chatops "
                    f"(schema {row[0]}); upgrade chatops"
                )

    # -- runs ---------------------------------------------------------------

    def create_run(
        self, *, intent: str, trigger: str, actor: str, client: str, stacks: list[str],
        sha: str | None = None, dry_run: bool = False, plan: dict[str, Any] | None = None,
        status: RunStatus = RunStatus.queued, run_id: str | None = None,
        parent_id: str | None = None,
    ) -> RunRecord:
        rid = run_id or new_run_id()
        with self._tx() as db:
            # A run that waited for its approvals exists already (released as queued):
            # it keeps its record and is now this process's.
            db.execute(
                "INSERT INTO runs (id, intent, trigger, actor, client, sha, status, dry_run,"
                " created_at, pid, host, plan, parent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET pid=excluded.pid, host=excluded.host"
                " WHERE runs.status='queued' AND runs.approval IS NOT NULL",
                (rid, intent, trigger, actor, client, sha, str(status), int(dry_run), utcnow(),
                 os.getpid(), socket.gethostname(),
                 json.dumps(self.masker.mask_data(plan)) if plan else None,
                 parent_id),
            )
            db.executemany("INSERT OR IGNORE INTO run_stacks VALUES (?, ?)",
                           [(rid, s) for s in stacks])
        return self.get_run(rid, detail=False)

    def mark_running(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, started_at=?, pid=? WHERE id=?",
                       (str(RunStatus.running), utcnow(), os.getpid(), run_id))

    def set_pull_request(self, run_id: str, pull_request: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET pull_request=? WHERE id=?",
                       (json.dumps(pull_request), run_id))

    def set_rollback_of(self, run_id: str, deployed_sha: str) -> None:
        """Record that this run goes back from ``deployed_sha`` to an older commit."""
        with self._tx() as db:
            db.execute("UPDATE runs SET rollback_of=? WHERE id=?", (deployed_sha, run_id))

    def deployed_sha(self, intent: str) -> str | None:
        """The commit of the newest succeeded run of ``intent`` that named one."""
        rows = self._query(
            "SELECT sha FROM runs WHERE intent=? AND status='succeeded' AND dry_run=0"
            " AND sha IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1", (intent,))
        return str(rows[0]["sha"]) if rows else None

    def set_traffic(self, run_id: str, traffic: dict[str, Any]) -> None:
        """What a blue-green run did to traffic: slots, switch, drain, failed requests."""
        with self._tx() as db:
            db.execute("UPDATE runs SET traffic=? WHERE id=?", (json.dumps(traffic), run_id))

    def last_traffic(self, stack: str, service: str) -> dict[str, Any] | None:
        """The traffic record of the newest run that switched ``service`` of ``stack``."""
        rows = self._query(
            "SELECT r.traffic FROM runs r JOIN run_stacks s ON s.run_id = r.id"
            " WHERE s.stack=? AND r.traffic IS NOT NULL ORDER BY r.created_at DESC, r.id DESC",
            (stack,))
        for row in rows:
            data: dict[str, Any] = json.loads(row["traffic"])
            if data.get("service") == service and data.get("after"):
                return data
        return None

    def add_signal(self, run_id: str, signal: str, actor: str) -> None:
        """A person's word to a running run (a canary's promote or abort)."""
        with self._tx() as db:
            db.execute("INSERT INTO run_signals VALUES (?,?,?,?)",
                       (run_id, signal, actor, utcnow()))

    def signals(self, run_id: str) -> list[dict[str, str]]:
        return [{"signal": r["signal"], "actor": r["actor"], "at": r["at"]}
                for r in self._query("SELECT * FROM run_signals WHERE run_id=? ORDER BY at",
                                     (run_id,))]

    def set_standby(self, *, stack: str, service: str, slot: str, project: str, until: str,
                    traffic: dict[str, Any], run_id: str) -> None:
        """The slot a blue-green switch left stopped, to remove once ``until`` passed."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO standby VALUES (?,?,?,?,?,?,?)",
                       (stack, service, slot, project, until, json.dumps(traffic), run_id))

    def expired_standby(self, now: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM standby WHERE until <= ? ORDER BY until", (now,))
        return [{"stack": r["stack"], "service": r["service"], "slot": r["slot"],
                 "project": r["project"], "until": r["until"],
                 "traffic": json.loads(r["traffic"]), "run_id": r["run_id"]} for r in rows]

    def clear_standby(self, stack: str, service: str, run_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM standby WHERE stack=? AND service=? AND run_id=?",
                       (stack, service, run_id))

    # -- approvals --------------------------------------------------------------

    def set_approval(self, run_id: str, approval: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET approval=? WHERE id=?", (json.dumps(approval), run_id))

    def vote(self, run_id: str, *, who: str, verdict: str, via: str, client: str,
             sha: str | None) -> bool:
        """Record one approver's word on a run; False when they had given it already
        (a second click counts once)."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO approvals VALUES (?,?,?,?,?,?,?)",
                             (run_id, who, verdict, via, client, sha, utcnow()))
            return cur.rowcount == 1

    def votes(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query(
            "SELECT who, verdict, via, client, sha, at FROM approvals WHERE run_id=?"
            " ORDER BY at, who", (run_id,))]

    def move_status(self, run_id: str, old: RunStatus, new: RunStatus,
                    reason: str | None = None) -> bool:
        """Change the run's status from ``old`` to ``new``, only if it is still ``old``
        (of two racing changes, exactly one happens). A final status ends the run."""
        ended = utcnow() if new.final else None
        with self._tx() as db:
            cur = db.execute(
                "UPDATE runs SET status=?, reason=COALESCE(?, reason), ended_at=?"
                " WHERE id=? AND status=?", (str(new), reason, ended, run_id, str(old)))
            return cur.rowcount == 1

    def awaiting(self, intent: str) -> list[RunRecord]:
        return [self._record(r) for r in self._query(
            "SELECT * FROM runs WHERE intent=? AND status='awaiting_approval'"
            " ORDER BY created_at", (intent,))]

    def mark_changed(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET changed=1 WHERE id=?", (run_id,))

    def finish_run(self, run_id: str, status: RunStatus, reason: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, reason=?, ended_at=?,"
                " started_at=COALESCE(started_at, ?) WHERE id=?",
                (str(status), self.masker.mask_opt(reason), utcnow(), utcnow(), run_id),
            )

    def get_run(self, run_id: str, detail: bool = True) -> RunRecord:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise RunNotFoundError(run_id)
        record = self._record(rows[0])
        if detail:
            record.steps = [self._step(r) for r in self._query(
                "SELECT * FROM steps WHERE run_id=? ORDER BY seq", (run_id,))]
            record.gates = [self._gate(r) for r in self._query(
                "SELECT * FROM gates WHERE run_id=? ORDER BY seq", (run_id,))]
            record.snapshots = [
                {"doc": r["doc"], "kind": r["kind"], "stack": r["stack"],
                 "taken_at": r["taken_at"], **json.loads(r["data"])}
                for r in self._query(
                    "SELECT * FROM snapshots WHERE run_id=? ORDER BY doc, kind DESC", (run_id,))
            ]
        return record

    def children(self, parent_id: str) -> list[RunRecord]:
        return [self._record(r) for r in self._query(
            "SELECT * FROM runs WHERE parent_id=? ORDER BY created_at, id", (parent_id,))]

    def plan_of(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT plan FROM runs WHERE id=?", (run_id,))
        return json.loads(rows[0]["plan"]) if rows and rows[0]["plan"] else None

    def list_runs(
        self, *, intent: str | None = None, stack: str | None = None,
        status: str | None = None, limit: int = 50, offset: int = 0,
        trigger: str | None = None, actor: str | None = None,
    ) -> list[RunRecord]:
        where, args = [], []
        for column, value in (("intent", intent), ("status", status), ("trigger", trigger),
                              ("actor", actor)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if stack:
            where.append("id IN (SELECT run_id FROM run_stacks WHERE stack = ?)")
            args.append(stack)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        return [self._record(r) for r in self._query(sql, (*args, limit, offset))]

    def _record(self, row: sqlite3.Row) -> RunRecord:
        stacks = [r["stack"] for r in self._query(
            "SELECT stack FROM run_stacks WHERE run_id=? ORDER BY stack", (row["id"],))]
        return RunRecord(
            id=row["id"], intent=row["intent"], trigger=row["trigger"], actor=row["actor"],
            client=row["client"], sha=row["sha"], status=RunStatus(row["status"]),
            reason=row["reason"], stacks=stacks, dry_run=bool(row["dry_run"]),
            changed=bool(row["changed"]), created_at=row["created_at"],
            started_at=row["started_at"], ended_at=row["ended_at"], pid=row["pid"],
            host=row["host"],
            pull_request=json.loads(row["pull_request"]) if row["pull_request"] else None,
            parent_id=row["parent_id"], rollback_of=row["rollback_of"],
            traffic=json.loads(row["traffic"]) if row["traffic"] else None,
            approval=self._approval(row),
        )

    def _approval(self, row: sqlite3.Row) -> dict[str, Any] | None:
        if not row["approval"]:
            return None
        return {**json.loads(row["approval"]), "votes": self.votes(row["id"])}

    # -- steps, gates, snapshots ---------------------------------------------

    def start_step(self, run_id: str, *, doc: int, phase: str, description: str,
                   argv: list[str]) -> int:
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id=?",
                             (run_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO steps (run_id, seq, doc, phase, description, argv, started_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, seq, doc, phase, self.masker.mask(description),
                 json.dumps(self.masker.mask_data(argv)), utcnow()),
            )
        return int(seq)

    def finish_step(self, run_id: str, seq: int, *, exit_code: int | None, timed_out: bool,
                    error: str | None, duration: float, tail: list[str]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET exit_code=?, timed_out=?, error=?, duration=?, output_tail=?"
                " WHERE run_id=? AND seq=?",
                (exit_code, int(timed_out), self.masker.mask_opt(error), duration,
                 self.masker.mask("\n".join(tail)), run_id, seq),
            )

    @staticmethod
    def _step(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "seq": row["seq"], "doc": row["doc"], "phase": row["phase"],
            "description": row["description"], "argv": json.loads(row["argv"]),
            "started_at": row["started_at"], "exit_code": row["exit_code"],
            "timed_out": bool(row["timed_out"]), "error": row["error"],
            "duration_seconds": row["duration"],
            "output_tail": (row["output_tail"] or "").splitlines(),
        }

    def add_gate(self, run_id: str, *, doc: int, phase: str, kind: str, description: str,
                 ok: bool, detail: str, duration: float) -> None:
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM gates WHERE run_id=?",
                             (run_id,)).fetchone()[0]
            db.execute("INSERT INTO gates VALUES (?,?,?,?,?,?,?,?,?)",
                       (run_id, seq, doc, phase, kind, self.masker.mask(description), int(ok),
                        self.masker.mask(detail), duration))

    @staticmethod
    def _gate(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "doc": row["doc"], "phase": row["phase"], "kind": row["kind"],
            "description": row["description"], "ok": bool(row["ok"]), "detail": row["detail"],
            "duration_seconds": row["duration"],
        }

    def save_snapshot(self, run_id: str, *, doc: int, kind: str, stack: str,
                      data: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?)",
                       (run_id, doc, kind, stack, json.dumps(data), utcnow()))

    def good_snapshots(self, stack: str) -> list[tuple[str, dict[str, Any]]]:
        """``(run id, snapshot)`` of what succeeded runs left on ``stack``, newest first."""
        rows = self._query(
            "SELECT s.run_id, s.data FROM snapshots s JOIN runs r ON r.id = s.run_id"
            " WHERE s.stack=? AND s.kind='after' AND r.status='succeeded'"
            " ORDER BY r.created_at DESC, s.doc DESC",
            (stack,),
        )
        return [(r["run_id"], json.loads(r["data"])) for r in rows]

    # -- output ----------------------------------------------------------------

    def add_line(self, run_id: str, ts: str, stream: str, line: str) -> None:
        count = self._log_counts.get(run_id, 0) + 1
        self._log_counts[run_id] = count
        if count > MAX_LOG_LINES_PER_RUN:
            if count == MAX_LOG_LINES_PER_RUN + 1:
                line, stream = f"[output beyond {MAX_LOG_LINES_PER_RUN} lines dropped]", "chatops"
            else:
                return
        with self._tx() as db:
            db.execute("INSERT INTO log (run_id, ts, stream, line) VALUES (?,?,?,?)",
                       (run_id, ts, stream, self.masker.mask(line)))

    def lines(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "ts": r["ts"], "stream": r["stream"], "line": r["line"]}
            for r in self._query(
                "SELECT * FROM log WHERE run_id=? AND id>? ORDER BY id LIMIT ?",
                (run_id, after, limit))
        ]

    # -- idempotency -----------------------------------------------------------

    def idempotent_run(self, key_name: str, idem: str) -> tuple[str, str | None] | None:
        """(run id, fingerprint of the request that made it) for this key and
        ``Idempotency-Key``, or None."""
        rows = self._query(
            "SELECT run_id, fingerprint FROM idempotency WHERE key_name=? AND idem=?",
            (key_name, idem))
        return (str(rows[0]["run_id"]), rows[0]["fingerprint"]) if rows else None

    def remember_idempotent(self, key_name: str, idem: str, run_id: str,
                            fingerprint: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO idempotency (key_name, idem, run_id, created_at,"
                       " fingerprint) VALUES (?,?,?,?,?)",
                       (key_name, idem, run_id, utcnow(), fingerprint))

    def first_delivery(self, delivery: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a replay)."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO webhook_deliveries VALUES (?, ?)",
                             (delivery, utcnow()))
            return cur.rowcount == 1

    def first_chat_request(self, key: str, window: float) -> bool:
        """Record a signed chat request (an interaction id, a signature) for ``window``
        seconds; False when it was seen within them (a replay). Older ones are dropped:
        their timestamps are refused as stale anyway."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=2 * window)).isoformat(
            timespec="milliseconds")
        with self._tx() as db:
            db.execute("DELETE FROM webhook_deliveries WHERE id >= 'chat:' AND id < 'chat;'"
                       " AND received_at < ?", (cutoff,))
            cur = db.execute("INSERT OR IGNORE INTO webhook_deliveries VALUES (?, ?)",
                             (f"chat:{key}", utcnow()))
            return cur.rowcount == 1

    def push_seen(self, ref: str, before: str, after: str) -> str | None:
        """The delivery id that already brought this push, or None."""
        rows = self._query("SELECT delivery FROM webhook_pushes WHERE ref=? AND before=?"
                           " AND after=?", (ref, before, after))
        return str(rows[0]["delivery"]) if rows else None

    def claim_push(self, ref: str, before: str, after: str, delivery: str) -> bool:
        """Record a processed push by its content; False when it was processed before."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO webhook_pushes VALUES (?,?,?,?,?)",
                             (ref, before, after, delivery, utcnow()))
            return cur.rowcount == 1

    def ping(self) -> None:
        self._query("SELECT 1")

    # -- recovery --------------------------------------------------------------

    def unfinished(self) -> list[RunRecord]:
        return [self._record(r) for r in self._query(
            "SELECT * FROM runs WHERE status IN ('queued', 'running', 'awaiting_approval')"
            " ORDER BY created_at")]

    def recover_interrupted(self, is_alive: Callable[[str], bool]) -> list[str]:
        """Mark runs whose process is gone as interrupted; return their ids."""
        gone = [r for r in self.unfinished() if not is_alive(r.id)]
        for run in gone:
            if run.status is RunStatus.awaiting_approval:
                self.finish_run(run.id, RunStatus.interrupted,
                                "the chatops process that held this run for its approvals "
                                "stopped; nothing was changed: ask for the run again")
                continue
            self.add_line(run.id, utcnow(), "chatops",
                          "the chatops process running this run stopped before it ended")
            self.finish_run(run.id, RunStatus.interrupted,
                            "the chatops process stopped before the run ended (killed or "
                            "crashed); check the stack, then run again")
        return [run.id for run in gone]
