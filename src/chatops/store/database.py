"""The run history's database file: opened WAL, each write one short transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatops.errors import StoreError
from chatops.paths import private_file
from chatops.store.schema import migrate


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_file(path)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self._tx() as db:
                migrate(db, path)
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

    def ping(self) -> None:
        self._query("SELECT 1")
