"""The dashboard's people: users with passwords (argon2id), and their sessions.

A user has the same grant as an API key (scopes, an intent glob, stacks). A password is
stored only as its argon2id hash (``argon2-cffi``). A session is 256 random bits in an
HttpOnly cookie; the run history keeps only its SHA-256 hash, with the session's CSRF
token and its end. Both live in the state directory's SQLite file, beside the API keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from msgspec import Struct

from chatops.application.caller import grant_approval_refusal, grant_refusal
from chatops.errors import ChatopsError, ConfigError
from chatops.store.connect import open_sqlite
from chatops.store.database import utcnow

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
SCOPES = ("run", "read", "audit", "rollback", "approve")
MIN_PASSWORD = 12
SESSION_HOURS = 12
SESSION_COOKIE = "chatops_session"

_USERS = """
CREATE TABLE IF NOT EXISTS ui_users (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    intents TEXT NOT NULL,
    stacks TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""
_SESSIONS = """
CREATE TABLE IF NOT EXISTS ui_sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
)
"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _hasher() -> PasswordHasher:
    return PasswordHasher()


class User(Struct, frozen=True):
    """A person of the dashboard, with the grant of an API key (named ``user:NAME`` in
    approvers, and as themself in the run history and the audit trail)."""

    name: str
    scopes: tuple[str, ...] = ("read",)
    intents: str = "*"
    stacks: tuple[str, ...] = ()
    created_at: str = ""

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def refusal(self, intent: str, stacks: Iterable[str],
                actions: Iterable[str]) -> str | None:
        return grant_refusal(f"user {self.name!r}", self.scopes, self.intents, self.stacks,
                             (), intent=intent, stacks=stacks, actions=actions)

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        return grant_approval_refusal(f"user {self.name!r}", self.scopes, self.intents,
                                      self.stacks, [f"user:{self.name}"], intent=intent,
                                      stacks=stacks, approvers=approvers)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str = field(repr=False)
    expires_at: str


class UserStore:
    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, _USERS, "user store")
        self._db.execute(_SESSIONS)

    def close(self) -> None:
        self._db.close()

    # -- users ----------------------------------------------------------------------

    def add(self, name: str, password: str, *, scopes: Iterable[str], intents: str = "*",
            stacks: Iterable[str] = ()) -> User:
        if not NAME_RE.match(name):
            raise ConfigError(f"invalid user name {name!r}: letters, digits, '.', '-', "
                              "'_', '@'", field="NAME")
        scopes = tuple(scopes)
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ConfigError(f"unknown scope {bad[0]!r}; scopes are {', '.join(SCOPES)}"
                              if bad else "give at least one scope", field="--scopes")
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"the password is shorter than {MIN_PASSWORD} characters",
                              field="password")
        user = User(name, scopes, intents or "*", tuple(stacks), utcnow())
        digest = _hasher().hash(password)
        try:
            self._db.execute("INSERT INTO ui_users VALUES (?,?,?,?,?,?)", (
                user.name, digest, json.dumps(user.scopes), user.intents,
                json.dumps(user.stacks), user.created_at))
        except sqlite3.IntegrityError:
            raise ConfigError(f"a user named {name!r} exists already; remove it first",
                              field="NAME") from None
        return user

    def signed_in_elsewhere(self, name: str, scopes: Iterable[str]) -> User:
        """A person the identity provider vouched for (``oidc:NAME``), with the scopes
        their groups map to now; they have no password here (``check`` never matches)."""
        user = User(name, tuple(scopes), "*", (), utcnow())
        self._db.execute("INSERT INTO ui_users VALUES (?,?,?,?,?,?) ON CONFLICT (name) DO "
                         "UPDATE SET scopes=excluded.scopes", (
                             user.name, "!external", json.dumps(user.scopes), user.intents,
                             json.dumps(user.stacks), user.created_at))
        return user

    def remove(self, name: str) -> None:
        if self._db.execute("DELETE FROM ui_users WHERE name=?", (name,)).rowcount == 0:
            raise ChatopsError(f"no user named {name!r}")
        self._db.execute("DELETE FROM ui_sessions WHERE user=?", (name,))

    def all(self) -> list[User]:
        rows = self._db.execute("SELECT name, scopes, intents, stacks, created_at FROM "
                                "ui_users ORDER BY name").fetchall()
        return [User(r[0], tuple(json.loads(r[1])), r[2], tuple(json.loads(r[3])), r[4])
                for r in rows]

    def check(self, name: str, password: str) -> User | None:
        """The user when the password is theirs; None otherwise (the same work is done
        for an unknown name, so the time taken does not say which names exist)."""
        row = self._db.execute("SELECT hash, scopes, intents, stacks, created_at FROM "
                               "ui_users WHERE name=?", (name,)).fetchone()
        hasher = _hasher()
        digest = row[0] if row else _DUMMY.get(hasher)
        try:
            hasher.verify(digest, password)
        except VerificationError:
            return None
        except ValueError:  # a password argon2 cannot take (too long, NUL)
            return None
        if row is None:
            return None
        return User(name, tuple(json.loads(row[1])), row[2], tuple(json.loads(row[3])),
                    row[4])

    # -- sessions -------------------------------------------------------------------------

    def open_session(self, user: User) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(user, secrets.token_urlsafe(32),
                          (now + timedelta(hours=SESSION_HOURS)).isoformat(
                              timespec="seconds"))
        self._db.execute("DELETE FROM ui_sessions WHERE expires_at < ?",
                         (now.isoformat(timespec="seconds"),))
        self._db.execute("INSERT INTO ui_sessions VALUES (?,?,?,?,?)", (
            _hash(token), user.name, session.csrf, now.isoformat(timespec="seconds"),
            session.expires_at))
        return token, session

    def session(self, token: str) -> Session | None:
        if not token or len(token) > 200:
            return None
        row = self._db.execute(
            "SELECT s.csrf, s.expires_at, u.name, u.scopes, u.intents, u.stacks, "
            "u.created_at FROM ui_sessions s JOIN ui_users u ON u.name = s.user "
            "WHERE s.token_hash=?", (_hash(token),)).fetchone()
        if row is None or row[1] < datetime.now(UTC).isoformat(timespec="seconds"):
            return None
        user = User(row[2], tuple(json.loads(row[3])), row[4], tuple(json.loads(row[5])),
                    row[6])
        return Session(user, row[0], row[1])

    def close_session(self, token: str) -> None:
        self._db.execute("DELETE FROM ui_sessions WHERE token_hash=?", (_hash(token),))


class _Dummy:
    """One hash of a random password, made once, checked for unknown names."""

    def __init__(self) -> None:
        self._digest: str | None = None

    def get(self, hasher: PasswordHasher) -> str:
        if self._digest is None:
            self._digest = hasher.hash(secrets.token_urlsafe(16))
        return self._digest


_DUMMY = _Dummy()


def same(a: str, b: str) -> bool:
    """Compare two secrets (CSRF tokens) in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
