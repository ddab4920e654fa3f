"""Named API keys, stored only as SHA-256 hashes, each with a scope.

Tokens are 256 random bits, so a fast hash is enough (nothing to brute-force); every
stored hash is compared on every check, with ``hmac.compare_digest``, so neither the
result nor the time taken says which key came close.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from msgspec import Struct

from chatops.application.caller import grant_approval_refusal, grant_refusal
from chatops.errors import ChatopsError
from chatops.store.connect import open_sqlite
from chatops.store.database import utcnow

TOKEN_PREFIX = "chatops_"  # noqa: S105 - a prefix that makes leaked tokens greppable
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SCOPES = ("run", "read", "audit", "override-window", "rollback", "approve")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    intents TEXT NOT NULL,
    stacks TEXT NOT NULL,
    actions TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKey(Struct, frozen=True):
    name: str
    hash: str
    intents: str = "*"
    stacks: tuple[str, ...] = ()  # empty: every stack
    actions: tuple[str, ...] = ()  # empty: every action
    scopes: tuple[str, ...] = ("run", "read")
    created_at: str = ""
    revoked_at: str | None = None

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def refusal(self, intent: str, stacks: Iterable[str], actions: Iterable[str]) -> str | None:
        """Why this key may not run ``intent``, or None."""
        return grant_refusal(f"key {self.name!r}", self.scopes, self.intents, self.stacks,
                             self.actions, intent=intent, stacks=stacks, actions=actions)

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        return grant_approval_refusal(f"key {self.name!r}", self.scopes, self.intents,
                                      self.stacks, [f"key:{self.name}"], intent=intent,
                                      stacks=stacks, approvers=approvers)

    def public(self) -> dict[str, object]:
        return {"name": self.name, "intents": self.intents, "stacks": list(self.stacks),
                "actions": list(self.actions), "scopes": list(self.scopes),
                "created_at": self.created_at, "revoked_at": self.revoked_at}


@dataclass
class KeyRing:
    """The keys a service checks against; swap ``keys`` to reload."""

    keys: list[ApiKey] = field(default_factory=list)
    compare: Callable[[str, str], bool] = hmac.compare_digest

    def match(self, token: str | None) -> ApiKey | None:
        if not token:
            return None
        digest = hash_token(token)
        found: ApiKey | None = None
        for key in self.keys:  # no early exit: every key is compared, every time
            if self.compare(digest, key.hash) and key.revoked_at is None:
                found = key
        return found


class KeyStore:
    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, _SCHEMA, "key store")

    def close(self) -> None:
        self._db.close()

    def create(self, name: str, *, intents: str = "*", stacks: Iterable[str] = (),
               actions: Iterable[str] = (), scopes: Iterable[str] = ("run", "read")
               ) -> tuple[ApiKey, str]:
        if not NAME_RE.match(name):
            raise ChatopsError(f"invalid key name {name!r}: letters, digits, '.', '-', '_'")
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise ChatopsError(f"unknown scope {bad[0]!r}; scopes are {', '.join(SCOPES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(name=name, hash=hash_token(token), intents=intents or "*",
                     stacks=tuple(stacks), actions=tuple(actions), scopes=tuple(scopes),
                     created_at=utcnow())
        try:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,NULL)",
                (key.name, key.hash, key.intents, json.dumps(key.stacks),
                 json.dumps(key.actions), json.dumps(key.scopes), key.created_at),
            )
        except sqlite3.IntegrityError:
            raise ChatopsError(f"a key named {name!r} exists already; revoke it first or "
                               "choose another name") from None
        return key, token

    def revoke(self, name: str) -> None:
        cur = self._db.execute(
            "UPDATE api_keys SET revoked_at=? WHERE name=? AND revoked_at IS NULL",
            (utcnow(), name))
        if cur.rowcount == 0:
            raise ChatopsError(f"no active key named {name!r}")

    def all(self) -> list[ApiKey]:
        rows = self._db.execute(
            "SELECT name, hash, intents, stacks, actions, scopes, created_at, revoked_at"
            " FROM api_keys ORDER BY name").fetchall()
        return [ApiKey(r[0], r[1], r[2], tuple(json.loads(r[3])), tuple(json.loads(r[4])),
                       tuple(json.loads(r[5])), r[6], r[7]) for r in rows]

    def fingerprint(self) -> tuple[int, str]:
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(MAX(created_at), '') || COALESCE(MAX(revoked_at), '')"
            " FROM api_keys").fetchone()
        return int(row[0]), str(row[1])


class ReloadingKeyRing(KeyRing):
    """A key ring that notices keys created or revoked while the service runs."""

    def __init__(self, store: KeyStore, extra: list[ApiKey], every: float = 2.0) -> None:
        super().__init__(keys=[*extra, *store.all()])
        self._store, self._extra, self._every = store, extra, every
        self._checked = time.monotonic()
        self._seen = store.fingerprint()

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._every:
            return
        self._checked = now
        seen = self._store.fingerprint()
        if seen != self._seen:
            self._seen = seen
            self.keys = [*self._extra, *self._store.all()]
