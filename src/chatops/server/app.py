"""The HTTP API. ``create_app`` composes it from its parts; nothing global.

Every error answers ``{"error": {"code": ..., "message": ...}}``; every request that
passes the guard is audited here (refusals by the guard are audited there).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatops import __version__
from chatops.engine.base import Engine
from chatops.errors import (
    ChatopsError,
    IntentError,
    IntentNotFoundError,
    RunNotFoundError,
    StoreError,
)
from chatops.gitops.github import GitHub
from chatops.intents.loader import parse_intent
from chatops.intents.model import NAME_RE
from chatops.logs import LogSink
from chatops.notify.outbox import Deliverer, Outbox
from chatops.notify.security import SecurityDigest
from chatops.notify.sink import OutboxSink
from chatops.planning.render import plan_to_dict
from chatops.repo import GitOpsRepo
from chatops.runner.scheduler import Scheduler
from chatops.runtime import Runtime
from chatops.server import models as m
from chatops.server.audit import AuditLog
from chatops.server.commits import decide_run, moved_checkout
from chatops.server.context import (
    ERRORS,
    YAML_TYPES,
    ApiError,
    Services,
    _accepted,
    _ctx,
    _error_response,
    _find,
    _json_body,
    _load,
    _media,
    _need,
    _plan,
    checked_name,
    ensure_audit_writable,
)
from chatops.server.guard import BodyTooLargeError, Guard
from chatops.server.keys import ApiKey, KeyRing
from chatops.server.manager import NotAcceptingError, RunManager
from chatops.server.metrics import Metrics
from chatops.server.openapi import install as install_openapi
from chatops.server.orchestrate import register_orchestrate, summary_of
from chatops.server.ratelimit import Lockout, RateLimiter
from chatops.server.schedules import register_schedules, schedule_loop
from chatops.server.settings import ServerSettings
from chatops.server.webhook import register_webhook
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import new_run_id


def create_app(settings: ServerSettings, *, runtime: Runtime, engine: Engine,
               keys: KeyRing, audit: AuditLog, metrics: Metrics | None = None,
               log_sink: LogSink | None = None, outbox: Outbox | None = None,
               deliverers: Mapping[str, Deliverer] | None = None) -> Guard:
    """The service as one ASGI app: the guard in front of the FastAPI routes."""
    metrics = metrics or Metrics()
    repo = GitOpsRepo.discover(settings.repo)
    sinks: list[Any] = [log_sink] if log_sink is not None else []
    targets = dict(deliverers or {})
    digest: SecurityDigest | None = None
    if outbox is not None and targets:
        sinks.append(OutboxSink(outbox, targets, runtime.store,
                                runtime.settings.public_url))
        digest = SecurityDigest(outbox, targets, settings.security_window)
    executor = runtime.executor(engine, sinks)
    manager = RunManager(executor, runtime.locks, metrics, settings.max_parallel_stacks)
    github = (GitHub(settings.github_repo or "", settings.github_token.get_secret_value(),
                     settings.github_api)
              if settings.enforce_github and settings.github_token is not None else None)
    services = Services(settings, runtime, repo, manager, audit, metrics, engine, github,
                        asyncio.Lock())
    base = runtime.settings
    scheduler = Scheduler(base.schedules_path, runtime.clock, timezone=base.timezone,
                          missed=base.missed_runs)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.recover()
        audit.start()
        loop = asyncio.get_running_loop()
        sender = (loop.create_task(outbox.run(targets))
                  if outbox is not None and targets else None)
        digester = loop.create_task(digest.run()) if digest is not None else None
        scheduling = loop.create_task(schedule_loop(services, scheduler))
        # Everything built so far lives as long as the process: keep the collector off it.
        gc.freeze()
        try:
            yield
        finally:
            scheduling.cancel()
            stopped = await manager.shutdown(settings.shutdown_grace)
            # Orchestrations and webhook sequences wait on runs that are now ended.
            for task in list(services.background):
                task.cancel()
            await asyncio.gather(*services.background, return_exceptions=True)
            if stopped:
                sys.stderr.write(f"chatops: stopped {len(stopped)} run(s) at shutdown: "
                                 f"{', '.join(stopped)}\n")
            await audit.stop()
            if digester is not None and digest is not None:
                digester.cancel()
                digest.flush()
            if sender is not None and outbox is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(outbox.deliver_due(targets), 3.0)
            await engine.close()

    api = FastAPI(title="chatops", version=__version__, lifespan=lifespan,
                  description="GitOps for Docker Compose hosts. Send the API key in "
                  "`X-API-Key`.", docs_url="/docs", redoc_url=None)
    api.state.services = services

    _register_errors(api, services, digest)
    _register_routes(api, services)
    register_webhook(api, services)
    register_orchestrate(api, services)
    register_schedules(api, services, scheduler)
    install_openapi(api, settings)
    return Guard(
        api, allowlist=settings.allowlist, proxies=settings.proxies, keys=keys, audit=audit,
        metrics=metrics,
        per_address=RateLimiter(settings.rate_per_address, settings.burst_per_address),
        per_key=RateLimiter(settings.rate_per_key, settings.burst_per_key),
        lockout=Lockout(settings.lockout_failures, settings.lockout_window,
                        settings.lockout_seconds, settings.key_failure_budget),
        max_body=settings.max_body_bytes,
        on_refusal=digest.refused if digest is not None else None,
    )


def _register_errors(api: FastAPI, s: Services, digest: SecurityDigest | None) -> None:
    def audit(request: Request, exc: ApiError) -> None:
        request.scope.setdefault("state", {})["audited"] = True
        client, request_id, key = _ctx(request)
        if digest is not None:
            digest.refused(exc.code, client)
        s.metrics.rejected.labels(exc.code).inc()
        s.audit.record(client=client, method=request.method, endpoint=request.url.path,
                       decision="refused" if exc.status < 500 else "failed",
                       reason=f"{exc.code}: {exc.message}", status=exc.status,
                       request_id=request_id, key_name=key.name if key else None,
                       intent=exc.intent, run_id=(exc.run or {}).get("id"))

    @api.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        audit(request, exc)
        return _error_response(exc, _ctx(request)[1])

    @api.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"][1:]) or None
        err = ApiError(422, "invalid_request", str(first["msg"]), field=field)
        audit(request, err)
        return _error_response(err, _ctx(request)[1])

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        err = ApiError(exc.status_code, code, str(exc.detail))
        audit(request, err)
        response = _error_response(err, _ctx(request)[1])
        allow = (exc.headers or {}).get("Allow")
        if allow:  # every GET route answers HEAD too (the guard runs it as GET)
            methods = [m.strip() for m in allow.split(",") if m.strip()]
            if "GET" in methods and "HEAD" not in methods:
                methods.append("HEAD")
            response.headers["allow"] = ", ".join(methods)
        return response

    @api.exception_handler(BodyTooLargeError)
    async def on_too_large(request: Request, exc: BodyTooLargeError) -> JSONResponse:
        err = ApiError(413, "body_too_large", str(exc))
        audit(request, err)
        return _error_response(err, _ctx(request)[1])

    @api.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        too_large = _find(exc, BodyTooLargeError)
        if too_large is not None:  # raised while reading, wrapped by the middleware's group
            return await on_too_large(request, too_large)
        # The message stays in the service's log; the client learns only the request id.
        sys.stderr.write(f"chatops: internal error on {request.url.path}: "
                         f"{type(exc).__name__}: {exc}\n")
        err = ApiError(500, "internal_error",
                       "internal error; the service log has the details for this request id")
        audit(request, err)
        return _error_response(err, _ctx(request)[1])


def _register_routes(api: FastAPI, s: Services) -> None:  # noqa: PLR0915 - one route each
    store = s.runtime.store

    @api.post("/run", response_model=m.RunAccepted | m.PlanAnswer, tags=["runs"],
              responses={**ERRORS, 404: {"model": m.ErrorBody}, 409: {"model": m.ErrorBody},
                         415: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody},
                         500: {"model": m.ErrorBody}, 503: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": m.RunBody.model_json_schema()}}}})
    async def post_run(request: Request) -> JSONResponse:
        """Start a run of an intent (the seed's call). 200 means accepted."""
        client, request_id, _ = _ctx(request)
        key = _need(request, "run")
        data = await _json_body(request)
        try:
            body = m.RunBody.model_validate(data)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            raise ApiError(422, "invalid_body", str(err["msg"]), field=field) from None
        idem = request.headers.get("idempotency-key", "") or None
        fingerprint = body.fingerprint()
        if idem and not body.dry_run:
            if len(idem) > 200:
                raise ApiError(422, "invalid_request", "Idempotency-Key is longer than 200 "
                               "characters", field="Idempotency-Key")
            replay = _idempotent_replay(request, key, idem, fingerprint, body.name)
            if replay is not None:
                return replay
        decision = await decide_run(s, key, body.name, body.sha, dry_run=body.dry_run)
        intent = decision.intent
        plan = _plan(s, intent)
        if body.dry_run:
            request.scope["state"]["audited"] = True
            s.audit.record(client=client, method="POST", endpoint="/run", decision="dry_run",
                           status=200, request_id=request_id, key_name=key.name,
                           intent=intent.name, reason="; ".join(decision.notes) or None)
            return JSONResponse(m.PlanAnswer(intent=intent.name,
                                             plan=plan_to_dict(plan)).model_dump())
        if not body.queue:
            busy = s.manager.busy(decision.stacks)
            if busy:
                raise ApiError(409, "stack_busy", busy, intent=intent.name)
        if not s.manager.accepting:
            raise ApiError(503, "shutting_down", "the service is stopping; try again "
                           "shortly", intent=intent.name)
        async with moved_checkout(s, decision):
            run_id = new_run_id()
            request.scope["state"]["audited"] = True
            s.audit.record(client=client, method="POST", endpoint="/run", decision="accepted",
                           status=200, request_id=request_id, key_name=key.name,
                           intent=intent.name, run_id=run_id,
                           reason="; ".join(decision.notes) or None)
            # Written before the run starts: a run the audit trail cannot record does not
            # happen (alike refusals are counted into one record, so the batch is small).
            ensure_audit_writable(s, intent.name)
            try:
                s.manager.submit(plan, trigger="api", actor=key.name, client=client,
                                 sha=decision.sha, run_id=run_id)
            except NotAcceptingError:
                raise ApiError(503, "shutting_down", "the service is stopping; try again "
                               "shortly", intent=intent.name) from None
        if idem:
            store.remember_idempotent(key.name, idem, run_id, fingerprint)
        if decision.pr is not None:
            store.set_pull_request(run_id, decision.pr.as_dict())
        if decision.rollback_of is not None:
            store.set_rollback_of(run_id, decision.rollback_of)
        return await _answer(run_id, plan_to_dict(plan), wait=body.wait,
                             request_id=request_id)

    async def _answer(run_id: str, plan: dict[str, Any], *, wait: bool,
                      request_id: str) -> JSONResponse:
        """Accepted; or, with ``wait``, 200 only when the run succeeded."""
        if wait:
            await s.manager.wait(run_id, s.settings.wait_timeout)
        record = store.get_run(run_id, detail=wait)
        if wait and record.status is not RunStatus.succeeded:
            code = 504 if not record.status.final else 500
            return _error_response(ApiError(
                code, f"run_{record.status}", record.reason or str(record.status),
                run=record.as_dict()), request_id)
        answer = _accepted(record, plan)
        if wait:
            answer["run"] = record.as_dict()
        return JSONResponse(answer)

    def _idempotent_replay(request: Request, key: ApiKey, idem: str, fingerprint: str,
                           name: str) -> JSONResponse | None:
        """The answer for a retried request (same key, same ``Idempotency-Key``, same
        body); 422 when the key was used for another body; None for a new key."""
        client, request_id, _ = _ctx(request)
        previous = store.idempotent_run(key.name, idem)
        if previous is None:
            return None
        run_id, seen = previous
        if seen is not None and not hmac.compare_digest(seen, fingerprint):
            raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used "
                           f"for another request (run {run_id}); send a new key for a new "
                           "request", field="Idempotency-Key", intent=name)
        record = store.get_run(run_id, detail=False)
        request.scope["state"]["audited"] = True
        s.audit.record(client=client, method="POST", endpoint="/run", decision="replayed",
                       status=200, request_id=request_id, key_name=key.name,
                       intent=record.intent, run_id=run_id)
        return JSONResponse(_accepted(record, store.plan_of(run_id), replay=True))

    @api.get("/runs", response_model=m.RunList, tags=["runs"],
             responses={**ERRORS, 422: {"model": m.ErrorBody}})
    async def list_runs(  # noqa: PLR0917 - FastAPI query parameters
        request: Request, intent: Annotated[str | None, Query(max_length=200)] = None,
        stack: Annotated[str | None, Query(max_length=200)] = None,
        status: RunStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,  # SQLite integers are 64-bit
    ) -> dict[str, Any]:
        """Recorded runs, newest first."""
        _need(request, "read")
        runs = store.list_runs(intent=intent, stack=stack,
                               status=str(status) if status else None, limit=limit + 1,
                               offset=offset)
        more = len(runs) > limit
        nxt = f"/runs?limit={limit}&offset={offset + limit}" if more else None
        return {"runs": [r.as_dict(detail=False) for r in runs[:limit]], "limit": limit,
                "offset": offset, "next": nxt}

    def _run_or_404(run_id: str, detail: bool = True) -> RunRecord:
        try:
            return store.get_run(run_id, detail=detail)
        except RunNotFoundError as exc:
            raise ApiError(404, "run_not_found", exc.message) from None

    @api.get("/runs/{run_id}", tags=["runs"],
             responses={**ERRORS, 404: {"model": m.ErrorBody}})
    async def get_run(request: Request, run_id: str) -> dict[str, Any]:
        """One run with its steps, gates and snapshots."""
        _need(request, "read")
        body = _run_or_404(run_id).as_dict()
        children = store.children(run_id)
        if children:
            body["children"] = [c.as_dict(detail=False) for c in children]
            body["summary"] = summary_of(children)
        return body

    @api.get("/runs/{run_id}/log", tags=["runs"], response_class=StreamingResponse,
             responses={**ERRORS, 404: {"model": m.ErrorBody},
                        200: {"content": {"text/event-stream": {}}}})
    async def run_log(request: Request, run_id: str) -> StreamingResponse:
        """Server-sent events: every output line so far, then live lines, then the outcome."""
        _need(request, "read")
        _run_or_404(run_id, detail=False)

        async def events() -> AsyncIterator[bytes]:
            last = 0
            while True:
                for line in store.lines(run_id, after=last):
                    last = line["id"]
                    yield f"id: {last}\nevent: line\ndata: {json.dumps(line)}\n\n".encode()
                record = store.get_run(run_id, detail=False)
                if record.status.final:
                    for line in store.lines(run_id, after=last):
                        last = line["id"]
                        yield f"event: line\ndata: {json.dumps(line)}\n\n".encode()
                    outcome = {"status": str(record.status), "reason": record.reason}
                    yield f"event: outcome\ndata: {json.dumps(outcome)}\n\n".encode()
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @api.get("/intents", response_model=m.IntentList, tags=["intents"], responses=ERRORS)
    async def list_intents(request: Request) -> dict[str, Any]:
        """Every intent of the repository, valid or not."""
        _need(request, "read")
        out = []
        try:
            paths = s.repo.intent_files()
        except ChatopsError as exc:
            raise ApiError(503, "not_configured", exc.message) from None
        for path in paths:
            try:
                intent = s.repo.load_intent(path.stem)
            except IntentError as exc:
                out.append({"name": path.stem, "valid": False,
                            "errors": [p.as_dict() for p in exc.problems]})
            except IntentNotFoundError as exc:
                out.append({"name": path.stem, "valid": False,
                            "errors": [{"message": exc.message}]})
            else:
                out.append({"name": intent.name, "valid": True,
                            "description": intent.description,
                            "documents": [d.model_dump(mode="json", exclude_defaults=True)
                                          for d in intent.documents]})
        return {"intents": out}

    @api.get("/intents/{name}", response_model=m.IntentDetail, tags=["intents"],
             responses={**ERRORS, 404: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody}})
    async def get_intent(request: Request, name: Annotated[str, FastApiPath(
            json_schema_extra={"pattern": NAME_RE.pattern})]) -> dict[str, Any]:
        """One intent with the plan a run would follow."""
        _need(request, "read")
        intent = _load(s, name)
        return {"name": intent.name, "description": intent.description,
                "documents": [d.model_dump(mode="json") for d in intent.documents],
                "plan": plan_to_dict(_plan(s, intent))}

    @api.post("/validate", response_model=m.ValidateAnswer, tags=["intents"],
              responses={**ERRORS, 415: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  # Any YAML text: what it holds is what the answer is about.
                  "application/yaml": {"schema": {}},
                  "text/plain": {"schema": {}}}}})
    async def validate(request: Request, name: Annotated[str, Query(
            json_schema_extra={"pattern": NAME_RE.pattern},
            description="the intent's name (its file stem)")] = "intent") -> dict[str, Any]:
        """Check intent YAML as ``chatops validate`` does; ``name`` is the file stem."""
        _need(request, "read")
        checked_name(name)
        if _media(request) not in YAML_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           "send the intent as text with Content-Type: application/yaml")
        raw = await request.body()
        label = f"{name}.yaml"
        try:
            intent = parse_intent(raw, label=label, name=name)
        except IntentError as exc:
            return {"valid": False, "name": name, "documents": [],
                    "errors": [p.as_dict() for p in exc.problems]}
        known = {p.stem for p in s.repo.intent_files()} if s.repo.intents_dir.is_dir() else set()
        errors = [{"file": label, "field": "depends_on",
                   "message": f"no intent named {dep!r} exists"}
                  for dep in intent.depends_on if dep not in known and dep != name]
        if name in intent.depends_on:
            errors.append({"file": label, "field": "depends_on",
                           "message": f"dependency cycle: {name} -> {name}"})
        docs = [{"doc": i, "docs": len(intent.documents), "summary": d.summary()}
                for i, d in enumerate(intent.documents, start=1)]
        return {"valid": not errors, "name": name, "documents": docs, "errors": errors}

    @api.get("/healthz", response_model=m.Health, tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers. Usable as an Uptime Kuma HTTP monitor."""
        return {"status": "ok", "checks": {}}

    @api.get("/readyz", response_model=m.Health, tags=["health"],
             responses={503: {"model": m.Health}})
    async def readyz() -> JSONResponse:
        """Readiness: the run history and the container engine answer."""
        checks: dict[str, str] = {}
        try:
            store.ping()
            checks["store"] = "ok"
        except StoreError as exc:
            checks["store"] = exc.message
        try:
            await s.engine.ping()
            checks["engine"] = "ok"
        except ChatopsError as exc:
            checks["engine"] = exc.message
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @api.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/audit", response_model=m.AuditList, tags=["audit"], responses=ERRORS)
    async def audit_tail(request: Request,
                         after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """Audit records after sequence number ``after`` (key with the audit scope)."""
        _need(request, "audit")
        return {"records": s.audit.tail(limit=limit, after=after)}

