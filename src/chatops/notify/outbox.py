"""The outbox: messages are stored first, then delivered with retries and backoff.

A slow or dead target never delays a deploy or an API answer: callers only write a row.
A worker (in the service, or at the end of a CLI run) delivers due rows; a failure is
retried with exponential backoff, honouring a target's ``Retry-After``; every attempt's
result is kept. Rows outlive restarts, and a row is claimed before it is sent, so two
workers never send it twice. Targets are stored by name, never by URL: the URL (which
often holds a token) is looked up in the settings when the row is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct

from chatops.errors import StoreError
from chatops.store.connect import open_sqlite
from chatops.store.database import utcnow

MAX_ATTEMPTS = 12
BACKOFF_BASE = 1.0
BACKOFF_CAP = 600.0
CLAIM_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_result TEXT,
    sent_at TEXT
)
"""


class Delivery(Struct, frozen=True):
    """What a target said: ``ok``, or when to try again (``retry_after``), or give up."""

    ok: bool
    detail: str
    retry_after: float | None = None
    permanent: bool = False


Deliverer = Callable[[dict[str, Any]], Awaitable[Delivery]]


class Message(Struct, frozen=True):
    id: int
    target: str
    event: str
    payload: dict[str, Any]
    attempts: int
    status: str
    last_result: str | None


class Outbox:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._db = open_sqlite(path, _SCHEMA, "outbox")

    def close(self) -> None:
        self._db.close()

    def put(self, target: str, event: str, payload: Mapping[str, Any]) -> int:
        cur = self._db.execute(
            "INSERT INTO outbox (created_at, target, event, payload, due) VALUES (?,?,?,?,?)",
            (utcnow(), target, event, json.dumps(dict(payload)), self.clock()))
        return int(cur.lastrowid or 0)

    def _claim(self, limit: int) -> list[Message]:
        now = self.clock()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = self._db.execute(
                "SELECT id, target, event, payload, attempts, status, last_result FROM outbox"
                " WHERE status='pending' AND due<=? AND claimed_until<=? ORDER BY id LIMIT ?",
                (now, now, limit)).fetchall()
            self._db.executemany("UPDATE outbox SET claimed_until=? WHERE id=?",
                                 [(now + CLAIM_SECONDS, r[0]) for r in rows])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return [Message(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def _record(self, message: Message, result: Delivery) -> None:
        attempts = message.attempts + 1
        if result.ok:
            self._db.execute(
                "UPDATE outbox SET status='sent', attempts=?, last_result=?, sent_at=?,"
                " claimed_until=0 WHERE id=?", (attempts, result.detail, utcnow(), message.id))
            return
        if result.permanent or attempts >= MAX_ATTEMPTS:
            self._db.execute(
                "UPDATE outbox SET status='failed', attempts=?, last_result=?, claimed_until=0"
                " WHERE id=?", (attempts, result.detail, message.id))
            return
        wait = result.retry_after
        if wait is None:
            wait = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
        self._db.execute(
            "UPDATE outbox SET attempts=?, last_result=?, due=?, claimed_until=0 WHERE id=?",
            (attempts, result.detail, self.clock() + max(0.0, wait), message.id))

    async def deliver_due(self, deliverers: Mapping[str, Deliverer], limit: int = 50) -> int:
        """Send what is due; return how many were sent. Never raises for a target's fault."""
        sent = 0
        for message in self._claim(limit):
            deliver = deliverers.get(message.target)
            if deliver is None:
                result = Delivery(False, f"target {message.target!r} is not configured here",
                                  retry_after=60.0)
            else:
                try:
                    result = await deliver(message.payload)
                except Exception as exc:  # a target's failure is recorded, never raised
                    result = Delivery(False, f"{type(exc).__name__}: {exc}")
            self._record(message, result)
            sent += int(result.ok)
        return sent

    async def run(self, deliverers: Mapping[str, Deliverer], every: float = 0.5) -> None:
        while True:
            # On a store error the next round tries again; the rows are safe on disk.
            with contextlib.suppress(sqlite3.Error, StoreError):
                await self.deliver_due(deliverers)
            await asyncio.sleep(every)

    def messages(self, limit: int = 100) -> list[Message]:
        rows = self._db.execute(
            "SELECT id, target, event, payload, attempts, status, last_result FROM outbox"
            " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Message(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

