"""What every endpoint shares: the error type and shape, the request's caller, body and
intent helpers, and the ``Services`` the routes are built from."""


from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from chatops.engine.base import Engine
from chatops.errors import (
    IntentError,
    IntentNotFoundError,
    StoreError,
)
from chatops.gitops.github import GitHub
from chatops.intents.loader import IntentFile
from chatops.intents.model import name_problem
from chatops.planning import PlanContext, build_plan
from chatops.repo import GitOpsRepo
from chatops.runtime import Runtime
from chatops.server import models as m
from chatops.server.audit import AuditLog
from chatops.server.guard import BodyTooLargeError
from chatops.server.keys import ApiKey
from chatops.server.manager import RunManager
from chatops.server.metrics import Metrics
from chatops.server.settings import ServerSettings
from chatops.store.records import RunRecord

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
              "text/plain")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorBody, "description": text} for code, text in {
        401: "missing or wrong API key", 403: "address, scope or label not allowed",
        413: "body too large", 422: "invalid request", 429: "rate limited or locked out",
    }.items()
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 problems: list[dict[str, Any]] | None = None,
                 run: dict[str, Any] | None = None, intent: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.problems, self.run, self.intent = field, problems, run, intent


@dataclass
class Services:
    settings: ServerSettings
    runtime: Runtime
    repo: GitOpsRepo
    manager: RunManager
    audit: AuditLog
    metrics: Metrics
    engine: Engine
    github: GitHub | None = None
    checkout_lock: asyncio.Lock | None = None
    background: set[asyncio.Task[Any]] = field(default_factory=set)


def _error_response(exc: ApiError, request_id: str) -> JSONResponse:
    detail: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.field is not None:
        detail["field"] = exc.field
    if exc.problems is not None:
        detail["problems"] = exc.problems
    body: dict[str, Any] = {"error": detail}
    if exc.run is not None:
        body["run"] = exc.run
    return JSONResponse(body, status_code=exc.status, headers={"x-request-id": request_id})



def _ctx(request: Request) -> tuple[str, str, ApiKey | None]:
    state = request.scope.get("state", {})
    return state.get("client", "unknown"), state.get("request_id", "-"), state.get("key")



def _find(exc: BaseException, kind: type[BodyTooLargeError]) -> BodyTooLargeError | None:
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    cause = exc.__cause__ or exc.__context__
    return _find(cause, kind) if cause is not None and cause is not exc else None


def _need(request: Request, scope: str) -> ApiKey:
    key = _ctx(request)[2]
    if key is None:  # pragma: no cover - the guard lets no keyless request through
        raise ApiError(401, "missing_key", "send the API key in the X-API-Key header")
    if not key.may(scope):
        raise ApiError(403, "scope_denied", f"key {key.name!r} lacks the {scope!r} scope")
    return key


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_body(request: Request) -> Any:
    if _media(request) not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(422, "invalid_json", "the body is not valid JSON") from None


_INTENT_CACHE: dict[Path, tuple[tuple[int, int], IntentFile]] = {}


def _cached_intent(s: Services, name: str) -> IntentFile:
    """Parse an intent file again only when it changed (size or modification time)."""
    path = s.repo.intent_path(name)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _INTENT_CACHE.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    intent = s.repo.load_intent(name)
    if len(_INTENT_CACHE) > 1000:
        _INTENT_CACHE.clear()
    _INTENT_CACHE[path] = (stamp, intent)
    return intent


def checked_name(name: object, field: str = "name") -> str:
    """An intent name from outside, checked before any file-system call: 422 otherwise."""
    problem = name_problem(name)
    if problem is not None:
        raise ApiError(422, "invalid_intent_name", problem, field=field)
    assert isinstance(name, str)  # noqa: S101 - name_problem accepted it
    return name


def _load(s: Services, name: str) -> IntentFile:
    checked_name(name)
    try:
        return _cached_intent(s, name)
    except IntentNotFoundError as exc:
        raise ApiError(404, "intent_not_found", exc.message, intent=name) from None
    except IntentError as exc:
        raise ApiError(422, "invalid_intent", f"intent {name!r} is invalid: {exc.message}",
                       problems=[p.as_dict() for p in exc.problems], intent=name) from None



def _plan(s: Services, intent: IntentFile) -> Any:
    return build_plan(intent, PlanContext(
        repo=s.repo, compose_command=s.runtime.settings.compose_command,
        stable_for=s.runtime.settings.stability_window))


def _accepted(record: RunRecord, plan: dict[str, Any] | None,
              replay: bool = False) -> dict[str, Any]:
    """The answer to an accepted run, from its record and its stored plan."""
    first = (plan or {}).get("steps", [{}])[0] if (plan or {}).get("steps") else {}
    return m.RunAccepted(
        id=record.id, status=str(record.status), intent=record.intent,
        action=str(first.get("action", "")),
        stack=str(first.get("stack", record.stacks[0] if record.stacks else "")),
        stacks=record.stacks, reason=record.reason,
        links=m.Links(self=f"/runs/{record.id}", log=f"/runs/{record.id}/log"),
        idempotent_replay=replay,
    ).model_dump()


def ensure_audit_writable(s: Services, intent: str | None = None) -> None:
    """Write the pending audit records now; 503 when the trail cannot be written, so
    nothing happens that the audit trail would not show."""
    try:
        s.audit.flush()
    except StoreError as exc:
        s.metrics.rejected.labels("audit_unavailable").inc()
        raise ApiError(503, "audit_unavailable", f"the audit trail cannot be written, so "
                       f"nothing is started: {exc.message}", intent=intent) from None


def window_check(s: Services, key: ApiKey | None, intent: str | None = None) -> str | None:
    """Refuse (403, with the next open time) outside the deploy windows, unless the key
    may override them; return the note to audit when it did."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    base = s.runtime.settings
    policy = base.policy()
    now = s.runtime.clock.now().astimezone(ZoneInfo(base.timezone))
    if policy.is_open(now):
        return None
    if key is not None and key.may("override-window"):
        return f"outside the deploy window; overridden by key {key.name!r}"
    nxt = policy.next_open(now)
    when = nxt.isoformat() if nxt is not None else "not scheduled (a freeze is in force)"
    raise ApiError(403, "outside_deploy_window",
                   f"deploys are closed at {now:%a %Y-%m-%d %H:%M %Z}; next open: {when}",
                   intent=intent)
