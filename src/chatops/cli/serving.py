"""``chatops keys`` and ``chatops audit``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from chatops.cli.config import current_settings
from chatops.server.keys import KeyStore
from chatops.store.audit import AuditLog


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


class _Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


@contextlib.contextmanager
def _opened(kind: Callable[[Path], S]) -> Iterator[S]:
    """The key or user store of this host's state directory, closed after use."""
    store = kind(current_settings().paths.db)
    try:
        yield store
    finally:
        store.close()


def _printed(rows: list[dict[str, Any]]) -> int:
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    return 0


def keys_create_command(  # noqa: PLR0917 - mirrors the Click command
    name: str, intents: str, stacks: str, actions: str, audit: bool, read_only: bool,
    override_window: bool = False, rollback: bool = False, approve: bool = False,
) -> int:
    from chatops.intents.model import ACTIONS

    bad = [a for a in _split(actions) if a not in ACTIONS]
    if bad:
        sys.stderr.write(f"error: --actions: unknown action {bad[0]!r}; expected "
                         f"{', '.join(ACTIONS)}\n")
        return 2
    scopes = ["read"] if read_only else ["run", "read"]
    if audit:
        scopes.append("audit")
    if override_window:
        scopes.append("override-window")
    if rollback:
        scopes.append("rollback")
    if approve:
        scopes.append("approve")
    with _opened(KeyStore) as store:
        key, token = store.create(name, intents=intents, stacks=_split(stacks),
                                  actions=_split(actions), scopes=scopes)
    sys.stdout.write(f"{token}\n")
    sys.stderr.write(f"created key {key.name!r} (scopes: {', '.join(key.scopes)}); the token "
                     "above is shown once and stored only as a hash\n")
    return 0


def keys_list_command(*, json_output: bool) -> int:
    with _opened(KeyStore) as store:
        keys = store.all()
    if json_output:
        return _printed([k.public() for k in keys])
    from rich.console import Console
    from rich.table import Table

    table = Table(title="chatops API keys")
    for column in ("name", "intents", "stacks", "actions", "scopes", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(k.name, k.intents, ", ".join(k.stacks) or "all",
                      ", ".join(k.actions) or "all", ", ".join(k.scopes), k.created_at[:19],
                      (k.revoked_at or "")[:19])
    Console().print(table if keys else "no keys yet: chatops keys create NAME")
    return 0


def keys_revoke_command(name: str) -> int:
    with _opened(KeyStore) as store:
        store.revoke(name)
    sys.stderr.write(f"revoked key {name!r}\n")
    return 0


def users_add_command(name: str, password: str, scopes: str, intents: str,
                      stacks: str) -> int:
    from chatops.errors import ChatopsError
    from chatops.web.users import UserStore

    store = UserStore(current_settings().paths.db)
    try:
        user = store.add(name, password, scopes=_split(scopes), intents=intents,
                         stacks=_split(stacks))
    except ChatopsError as exc:
        where = f"{exc.field}: " if exc.field else ""
        sys.stderr.write(f"error: {where}{exc.message}\n")
        return 4
    finally:
        store.close()
    sys.stderr.write(f"created user {user.name!r} (scopes: {', '.join(user.scopes)}); they "
                     "sign in at /ui\n")
    return 0


def users_list_command(*, json_output: bool) -> int:
    from chatops.web.users import UserStore

    with _opened(UserStore) as store:
        people = store.all()
    rows = [{"name": u.name, "scopes": list(u.scopes), "intents": u.intents,
             "stacks": list(u.stacks), "created_at": u.created_at} for u in people]
    if json_output:
        return _printed(rows)
    for row in rows:
        sys.stdout.write(f"{row['name']}\t{','.join(row['scopes'])}\t{row['intents']}\t"
                         f"{','.join(row['stacks']) or 'all'}\n")
    if not rows:
        sys.stdout.write("no users yet: chatops users add NAME --scopes read,run\n")
    return 0


def users_remove_command(name: str) -> int:
    from chatops.errors import ChatopsError
    from chatops.web.users import UserStore

    store = UserStore(current_settings().paths.db)
    try:
        store.remove(name)
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 4
    finally:
        store.close()
    sys.stderr.write(f"removed user {name!r}\n")
    return 0


def _audit() -> AuditLog:
    return AuditLog(current_settings().paths.audit)


def audit_verify_command() -> int:
    log = _audit()
    try:
        result = log.verify()
    finally:
        log.close()
    if result.ok:
        sys.stdout.write(f"audit trail intact: {result.records} records, chain verified\n")
        return 0
    sys.stdout.write(f"AUDIT TRAIL BROKEN after {result.records} good records: "
                     f"{result.problem}\n")
    return 1


def audit_tail_command(lines: int, *, json_output: bool) -> int:
    log = _audit()
    try:
        records = log.tail(limit=lines)
    finally:
        log.close()
    if json_output:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return 0
    for r in records:
        times = f" (x{r['count']})" if (r.get("count") or 1) > 1 else ""
        sys.stdout.write(
            f"{r['seq']:>6} {r['ts'][:23]} {r['client']:<15} {r['key_name'] or '-':<12} "
            f"{r['method']} {r['endpoint']} {r['decision']} {r['status']}"
            f"{' ' + r['reason'] if r['reason'] else ''}"
            f"{' run ' + r['run_id'] if r['run_id'] else ''}"
            f"{times}\n")
    return 0


def notify_test_command(only: str | None) -> int:
    import asyncio

    from chatops.notify.configured import deliverers
    from chatops.notify.kuma import TARGET, push_payload
    from chatops.notify.messages import TITLE

    settings = current_settings()
    targets = {name: t for name, t in deliverers(settings).items()
               if only is None or only in name}
    if not targets:
        sys.stderr.write("error: no notification target is configured"
                         + (f" matching {only!r}" if only else "")
                         + " (set CHATOPS_NOTIFY_URLS, DISCORD_WEBHOOK_URL or "
                         "CHATOPS_KUMA_PUSH_URL)\n")
        return 4
    failed = 0
    for name, deliver in targets.items():
        if name == TARGET:
            payload = push_payload(intent="chatops notify test", status="succeeded",
                                   reason=None, duration=0.0, run_id="test")
        else:
            payload = {"title": TITLE, "level": "info",
                       "body": "🔔 TEST: chatops can reach this channel"}
        result = asyncio.run(deliver(payload))
        mark = "✓" if result.ok else "✗"
        sys.stdout.write(f"  {mark} {name}: {result.detail}\n")
        failed += int(not result.ok)
    return 1 if failed else 0
