"""One way to open the small SQLite files of the state directory (WAL, autocommit)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatops.errors import StoreError
from chatops.paths import private_file


def open_sqlite(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """Open (creating the folder and ``schema``) or raise ``StoreError`` naming ``what``."""
    try:
        private_file(path)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(schema)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the {what} at {path}: {exc}") from None
    return db
