"""Every error becomes one answer, from its own status and code (no traceback reaches a
caller); the refusals no use case recorded (a wrong scope, a bad body) are audited here."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from chatops.application.wiring import Services
from chatops.errors import (
    ChatopsError,
    ClientGoneError,
    MethodNotAllowedError,
    NotFoundError,
    RequestError,
)
from chatops.notify.security import SecurityDigest
from chatops.server.context import HIDDEN, _ctx, error_response


def register_errors(api: FastAPI, s: Services, digest: SecurityDigest | None) -> None:
    """Every error becomes one answer, from its own status and code; the ones no use case
    recorded (a wrong scope, a bad body) are audited here."""

    def answer(request: Request, exc: ChatopsError) -> JSONResponse:
        request.scope.setdefault("state", {})["audited"] = True
        exc.message = s.runtime.masker.mask(exc.message)  # a remote's URL, say
        client, request_id, key = _ctx(request)
        if digest is not None:
            digest.refused(exc.code, client)
        s.metrics.rejected.labels(exc.code).inc()
        if not exc.public:  # the message stays in the service's log
            sys.stderr.write(f"chatops: {exc.code} on {request.url.path} (request "
                             f"{request_id}): {exc.message}\n")
        if not exc.audited:
            s.audit.record(client=client, method=request.method, endpoint=request.url.path,
                           decision="refused" if exc.status < 500 else "failed",
                           reason=f"{exc.code}: {exc.message}", status=exc.status,
                           request_id=request_id, key_name=key.name if key else None,
                           intent=exc.intent, run_id=(getattr(exc, "run", None) or {}).get("id"))
        return error_response(exc, request_id)

    @api.exception_handler(ChatopsError)
    async def on_error(request: Request, exc: ChatopsError) -> JSONResponse:
        return answer(request, exc)

    @api.exception_handler(ClientDisconnect)
    async def on_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; it is recorded once (not at all when the connection's
        # body deadline refused it and audited it already), with no traceback.
        if request.scope.get("state", {}).get("audited"):
            return JSONResponse({}, status_code=408)
        return answer(request, ClientGoneError("the client closed the connection before "
                                               "its request body arrived"))

    @api.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"][1:]) or None
        return answer(request, RequestError(str(first["msg"]), field=field))

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error: ChatopsError = (NotFoundError(str(exc.detail)) if exc.status_code == 404
                               else MethodNotAllowedError(str(exc.detail)))
        response = answer(request, error)
        allow = (exc.headers or {}).get("Allow")
        if allow:  # every GET route answers HEAD too (the guard runs it as GET)
            methods = [m.strip() for m in allow.split(",") if m.strip()]
            if "GET" in methods and "HEAD" not in methods:
                methods.append("HEAD")
            response.headers["allow"] = ", ".join(methods)
        return response

    @api.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        known = _find(exc)
        if known is not None:  # raised while reading, wrapped by the middleware's group
            return answer(request, known)
        sys.stderr.write(f"chatops: internal error on {request.url.path}: "
                         f"{type(exc).__name__}: {exc}\n")
        return answer(request, ChatopsError(HIDDEN))


def _find(exc: BaseException) -> ChatopsError | None:
    if isinstance(exc, ChatopsError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner)
            if found is not None:
                return found
    cause = exc.__cause__ or exc.__context__
    return _find(cause) if cause is not None and cause is not exc else None
