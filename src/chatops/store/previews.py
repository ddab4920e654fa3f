"""The previews that run now, one row per pull request and stack, the plan comment each
pull request last got (its previews' state is added below it), and the head chatops last
saw each pull request at, with when it first saw it there."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from msgspec import Struct

from chatops.store.database import Database, utcnow


class PreviewRow(Struct, frozen=True):
    number: int
    stack: str
    intent: str
    project: str
    head: str
    port: int
    hosts: tuple[str, ...]
    state: str  # starting, up, failed
    reason: str
    created_at: str
    updated_at: str
    expires_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "stack": self.stack, "intent": self.intent,
                "project": self.project, "head": self.head, "port": self.port,
                "hosts": list(self.hosts), "state": self.state, "reason": self.reason,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "expires_at": self.expires_at}


class PreviewRows(Database):
    def previews(self, number: int | None = None) -> list[PreviewRow]:
        """Every preview (of pull request ``number``), oldest first."""
        where, args = ("WHERE number=?", (number,)) if number is not None else ("", ())
        rows = self._query(f"SELECT * FROM previews {where} ORDER BY created_at, number, "  # noqa: S608 - a fixed clause
                           "stack", args)
        return [PreviewRow(int(r["number"]), str(r["stack"]), str(r["intent"]),
                           str(r["project"]), str(r["head"]), int(r["port"]),
                           tuple(json.loads(r["hosts"])), str(r["state"]),
                           str(r["reason"]), str(r["created_at"]), str(r["updated_at"]),
                           str(r["expires_at"])) for r in rows]

    def save_preview(self, row: PreviewRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO previews VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (row.number, row.stack, row.intent, row.project, row.head, row.port,
                 json.dumps(list(row.hosts)), row.state, row.reason[:1000], row.created_at,
                 utcnow(), row.expires_at))

    def drop_preview(self, number: int, stack: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM previews WHERE number=? AND stack=?", (number, stack))

    def keep_plan_comment(self, number: int, body: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO plan_comments VALUES (?,?,?)",
                       (number, body, utcnow()))

    def plan_comment(self, number: int) -> str | None:
        rows = self._query("SELECT body FROM plan_comments WHERE number=?", (number,))
        return str(rows[0]["body"]) if rows else None

    def saw_head(self, number: int, head: str) -> None:
        """Pull request ``number`` is at ``head`` now (the first sighting is kept)."""
        with self._tx() as db:
            db.execute("INSERT INTO pull_heads VALUES (?,?,?) ON CONFLICT(number) DO UPDATE "
                       "SET head=excluded.head, seen_at=excluded.seen_at "
                       "WHERE pull_heads.head != excluded.head", (number, head, utcnow()))

    def head_seen(self, number: int, head: str) -> datetime | None:
        """When chatops first saw ``head`` as pull request ``number``'s latest head, if
        that is still the latest it saw (so it was pushed by then)."""
        rows = self._query("SELECT seen_at FROM pull_heads WHERE number=? AND head=?",
                           (number, head))
        return datetime.fromisoformat(str(rows[0]["seen_at"])) if rows else None
