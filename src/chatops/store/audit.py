"""The audit trail: one record per request that reaches the checks, hash-chained.

Each record stores the SHA-256 of its own fields and of the record before it, so editing
or deleting any record breaks the chain from there on; the head (last sequence number
and hash) is also kept beside the database, so cutting records off the end is caught.
Records are written in batches, every 25 ms when there is one to write. Refusals made
before the key is known (bad or missing keys, addresses, limits) that are alike in every
field are counted into one record (``count``, with the first request id) for up to a
second (``REFUSAL_WINDOW``): while only refusals wait, the batch waits that long, so a
flood of bad keys costs a few records a second instead of one each, and no write at all
between them; records that start a run are written before the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgspec import Struct

from chatops.errors import StoreError
from chatops.masking import Masker
from chatops.paths import private_file
from chatops.store.connect import open_sqlite

# Column names below are these constants, never input: the queries are safe to build.
FIELDS = ("ts", "client", "key_name", "method", "endpoint", "intent", "decision", "reason",
          "status", "run_id", "request_id", "count")
GENESIS = "0" * 64
#: How long refusals alone wait to be written (alike ones counted into one record).
REFUSAL_WINDOW = 1.0
_COLUMNS = ", ".join(FIELDS)
_INSERT = f"INSERT INTO audit (seq, {_COLUMNS}, prev_hash, hash) VALUES ({', '.join('?' * (len(FIELDS) + 3))})"  # noqa: E501, S608
_TAIL = f"SELECT seq, {_COLUMNS}, hash FROM audit WHERE seq > ? ORDER BY seq DESC LIMIT ?"  # noqa: S608
_ALL = f"SELECT seq, {_COLUMNS}, prev_hash, hash FROM audit ORDER BY seq"  # noqa: S608

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL, client TEXT NOT NULL, key_name TEXT, method TEXT NOT NULL,
    endpoint TEXT NOT NULL, intent TEXT, decision TEXT NOT NULL, reason TEXT,
    status INTEGER NOT NULL, run_id TEXT, request_id TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
)
"""


def record_hash(prev: str, record: dict[str, Any]) -> str:
    body = json.dumps([record.get(f) for f in FIELDS], separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256((prev + body).encode()).hexdigest()


class VerifyResult(Struct, frozen=True):
    ok: bool
    records: int
    problem: str | None = None


class AuditLog:
    """``masker``: every secret the service knows, kept out of the records."""

    def __init__(self, path: Path, masker: Masker | None = None) -> None:
        self.path = path
        self.masker = masker if masker is not None else Masker()
        self.head_path = path.with_suffix(".head")
        self._pending: list[dict[str, Any]] = []
        self._alike: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._urgent = False  # a record other than a refusal waits: written at the next tick
        self._written_at = time.monotonic()
        self._db = open_sqlite(path, _SCHEMA, "audit trail")
        try:
            row = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the audit trail at {path}: {exc}") from None
        self._seq, self._prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        self._task: asyncio.Task[None] | None = None
        self.failing: str | None = None  # why the last write failed, until one succeeds

    def record(self, *, client: str, method: str, endpoint: str, decision: str,
               status: int, request_id: str, key_name: str | None = None,
               intent: str | None = None, reason: str | None = None,
               run_id: str | None = None, flush: bool = False) -> None:
        mask = self.masker.mask
        entry = {"ts": time.time(), "client": client, "key_name": key_name, "method": method,
                 "endpoint": mask(endpoint)[:300], "intent": intent, "decision": decision,
                 "reason": mask(reason or "")[:500] or None, "status": status,
                 "run_id": run_id, "request_id": request_id, "count": 1}
        with self._lock:
            self._pending.append(entry)
            self._urgent = True
        if flush:
            self.flush()

    def refusal(self, *, client: str, method: str, endpoint: str, reason: str, status: int,
                request_id: str, key_name: str | None = None) -> None:
        """A refusal made before routing; alike refusals in one batch share a record."""
        alike = (client, method, endpoint, reason, status, key_name)
        with self._lock:
            entry = self._alike.get(alike)
            if entry is not None:
                entry["count"] += 1
                return
            entry = {"ts": time.time(), "client": client, "key_name": key_name,
                     "method": method, "endpoint": self.masker.mask(endpoint)[:300],
                     "intent": None,
                     "decision": "refused", "reason": reason, "status": status,
                     "run_id": None, "request_id": request_id, "count": 1}
            self._alike[alike] = entry
            self._pending.append(entry)

    def flush(self) -> None:
        """Write the pending records; ``StoreError`` (and ``failing`` set) when they
        cannot be, keeping them for the next try."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._alike = {}
            self._urgent = False
            self._written_at = time.monotonic()
            if not batch:
                if self.failing is None:
                    return
                batch = []  # a failing trail must prove itself writable again
            try:
                self._write(batch)
            except (sqlite3.Error, OSError) as exc:
                self._pending[:0] = batch  # keep them for the next try
                if self.failing is None:
                    sys.stderr.write(f"chatops: the audit trail cannot be written "
                                     f"({self.path}): {exc}; requests are refused until "
                                     "it can\n")
                self.failing = str(exc)
                raise StoreError(f"audit write failed ({self.path}): {exc}") from None
            self.failing = None

    def _write(self, batch: list[dict[str, Any]]) -> None:
        # The chain continues from what the file holds, read inside the write lock, so
        # a record can never take a sequence number another writer used.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            rows = []
            for entry in batch:
                if isinstance(entry["ts"], float):
                    entry["ts"] = datetime.fromtimestamp(entry["ts"], UTC).isoformat(
                        timespec="milliseconds")
                seq += 1
                digest = record_hash(prev, entry)
                rows.append((seq, *[entry[f] for f in FIELDS], prev, digest))
                prev = digest
            self._db.executemany(_INSERT, rows)
            if rows:  # the head is written while the file is still locked
                tmp = private_file(self.head_path.with_suffix(".head.tmp"))
                tmp.write_text(f"{seq} {prev}\n")
                tmp.replace(self.head_path)
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._seq, self._prev = seq, prev

    def due(self) -> bool:
        """Whether the pending records should be written now (see the module's text)."""
        if self.failing is not None:
            return True  # a failing trail is tried again at each tick
        if not self._pending:
            return False
        return self._urgent or time.monotonic() - self._written_at >= REFUSAL_WINDOW

    async def run_flusher(self, every: float = 0.025) -> None:
        while True:
            await asyncio.sleep(every)
            if self.due():
                with contextlib.suppress(StoreError):
                    await asyncio.to_thread(self.flush)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run_flusher())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def tail(self, limit: int = 50, after: int = 0) -> list[dict[str, Any]]:
        self.flush()
        rows = self._db.execute(_TAIL, (after, limit)).fetchall()
        out = [dict(zip(("seq", *FIELDS, "hash"), row, strict=True)) for row in rows]
        return list(reversed(out))

    def verify(self) -> VerifyResult:
        self.flush()
        prev, expected_seq, count = GENESIS, 1, 0
        for row in self._db.execute(_ALL):
            seq = int(row[0])
            entry = dict(zip(FIELDS, row[1:1 + len(FIELDS)], strict=True))
            stored_prev, stored_hash = row[-2], row[-1]
            if seq != expected_seq:
                return VerifyResult(False, count, f"record {expected_seq} is missing "
                                    f"(next is {seq}): records were deleted")
            if stored_prev != prev:
                return VerifyResult(False, count, f"record {seq} does not follow record "
                                    f"{seq - 1}: the chain was cut or rewritten")
            if record_hash(prev, entry) != stored_hash:
                return VerifyResult(False, count, f"record {seq} was edited after it was "
                                    "written (its hash does not match its fields)")
            prev, expected_seq, count = stored_hash, seq + 1, count + 1
        try:
            head_seq, head_hash = self.head_path.read_text().split()
        except (OSError, ValueError):
            head_seq, head_hash = "0", GENESIS
        if int(head_seq) != count or head_hash != prev:
            return VerifyResult(False, count, f"the trail ends at record {count} but its "
                                f"head says {head_seq}: records were removed from the end")
        return VerifyResult(True, count)
