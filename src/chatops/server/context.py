"""What every endpoint shares: the ``Services`` the routes are built from, the request's
caller, the error answer (from the error's own status and code), and body helpers."""


from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from chatops.application.caller import Caller, Permissions, request_facts
from chatops.application.deploys import Started
from chatops.errors import (
    ChatopsError,
    InvalidBodyError,
    InvalidJsonError,
    ScopeDeniedError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from chatops.server import models as m

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
              "text/plain")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorBody, "description": text} for code, text in {
        401: "missing or wrong API key", 403: "address, scope or label not allowed",
        413: "body too large", 422: "invalid request", 429: "rate limited or locked out",
    }.items()
}
HIDDEN = "internal error; the service log has the details for this request id"


def error_response(exc: ChatopsError, request_id: str) -> JSONResponse:
    """The one shape of every error answer, from the error's own status and code."""
    message = exc.message if exc.public else HIDDEN
    detail: dict[str, Any] = {"code": exc.code, "message": message, **exc.details()}
    body: dict[str, Any] = {"error": detail}
    run = getattr(exc, "run", None)
    if run is not None:
        body["run"] = run
    return JSONResponse(body, status_code=exc.status, headers={"x-request-id": request_id})


def _ctx(request: Request) -> tuple[str, str, Permissions | None]:
    client, request_id = request_facts(request.scope)
    return client, request_id, request.scope.get("state", {}).get("key")


def caller(request: Request, scope: str) -> Caller:
    """The request's caller, once it may ``scope``: an API key, or the host's operator
    on the service's unix socket (recorded as ``via cli``)."""
    client, request_id, key = _ctx(request)
    if key is None:  # pragma: no cover - the guard lets no keyless request through
        raise UnauthorizedError("send the API key in the X-API-Key header")
    if not key.may(scope):
        raise ScopeDeniedError(f"key {key.name!r} lacks the {scope!r} scope")
    state = request.scope.get("state", {})
    local = bool(state.get("local_socket"))
    return Caller(via=state.get("via", "api"), permissions=key, client=client,
                  request_id=request_id, method="CLI" if local else request.method,
                  endpoint=request.url.path, local=local)


def _need(request: Request, scope: str) -> Permissions:
    return caller(request, scope).permissions


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_body(request: Request) -> Any:
    if _media(request) not in JSON_TYPES:
        raise UnsupportedMediaTypeError("send the body as JSON with Content-Type: "
                                        "application/json")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidJsonError("the body is not valid JSON") from None


Body = TypeVar("Body", bound=BaseModel)


async def json_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON body as ``model``; 415, or 422 naming the first bad field."""
    try:
        return model.model_validate(await _json_body(request))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise InvalidBodyError(str(err["msg"]), field=".".join(
            str(p) for p in err["loc"]) or None) from None


def accepted(started: Started) -> dict[str, Any]:
    """The answer to an accepted run, from its record and its stored plan."""
    record, plan = started.record, started.plan
    first = plan["steps"][0] if plan.get("steps") else {}
    return m.RunAccepted(
        id=record.id, status=str(record.status), intent=record.intent,
        action=str(first.get("action", "")),
        stack=str(first.get("stack", record.stacks[0] if record.stacks else "")),
        stacks=record.stacks, reason=record.reason,
        links=m.Links(self=f"/runs/{record.id}", log=f"/runs/{record.id}/log"),
        idempotent_replay=started.replay,
    ).model_dump()
