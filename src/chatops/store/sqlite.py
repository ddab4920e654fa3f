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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatops.errors import RunNotFoundError
from chatops.masking import Masker
from chatops.store.database import utcnow
from chatops.store.handoffs import HandoffRows
from chatops.store.previews import PreviewRows
from chatops.store.records import RunRecord, RunStatus
from chatops.store.replays import Replays

MAX_LOG_LINES_PER_RUN = 20_000

def new_run_id() -> str:
    """Sortable by creation time, unguessable enough to not collide: 20261126-153012-a1b2c3."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class RunStore(Replays, PreviewRows, HandoffRows):
    """The run history. Every text it is given passes ``masker`` first: no secret the
    service knows is written (and so shown by the API, the pages or chat)."""

    def __init__(self, path: Path, masker: Masker | None = None) -> None:
        super().__init__(path)
        self.masker = masker if masker is not None else Masker()
        self._log_counts: dict[str, int] = {}

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

    def record_approval(self, sha: str, pull_request: dict[str, Any]) -> None:
        """What the forge said approved commit ``sha`` (for when it cannot be asked)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO forge_approvals VALUES (?,?,?)",
                       (sha, json.dumps(pull_request), utcnow()))

    def recorded_approval(self, sha: str) -> tuple[dict[str, Any], str] | None:
        """The forge's approval of ``sha`` as recorded, and when; None if never."""
        rows = self._query("SELECT pull_request, at FROM forge_approvals WHERE sha=?", (sha,))
        return (json.loads(rows[0]["pull_request"]), str(rows[0]["at"])) if rows else None

    def note_commit(self, sha: str, intents: list[str], outcome: str, reason: str) -> None:
        """Why a pushed (or polled) commit did not run for these intents: ``refused``
        or ``skipped``, and the reason, for the drift view."""
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO commit_outcomes VALUES (?,?,?,?,?)",
                           [(sha, name, outcome, self.masker.mask(reason), utcnow())
                            for name in intents])

    def commit_outcomes(self, sha: str) -> dict[str, tuple[str, str]]:
        """Intent name to (outcome, reason) noted for commit ``sha``."""
        rows = self._query("SELECT intent, outcome, reason FROM commit_outcomes WHERE sha=?",
                           (sha,))
        return {str(r["intent"]): (str(r["outcome"]), str(r["reason"])) for r in rows}

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
