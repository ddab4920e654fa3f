"""The HTTP API. ``create_app`` composes it from its parts; nothing global.

Every error answers ``{"error": {"code": ..., "message": ...}}``; every request that
passes the guard is audited here (refusals by the guard are audited there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from chatops import __version__
from chatops.application.context import Rules
from chatops.application.deploys import Deploys, Planned, RunAsk, Started
from chatops.application.handoffs import handoff_loop
from chatops.application.metrics import Metrics
from chatops.application.stream import follow_run
from chatops.application.watching import Watcher
from chatops.application.wiring import Notifications, Services, build_deploys
from chatops.chat.platforms import announcers
from chatops.engine.base import Engine
from chatops.errors import ChatopsError, NotFoundError, RequestError, StoreError
from chatops.gitops.forges import forge_of
from chatops.logs import LogSink
from chatops.notify.outbox import Outbox
from chatops.notify.security import SecurityDigest
from chatops.notify.targets import Target
from chatops.planning.render import plan_to_dict
from chatops.ratelimit import Lockout, RateLimiter
from chatops.repo import GitOpsRepo
from chatops.runner.scheduler import Scheduler
from chatops.runtime import Runtime
from chatops.server import models as m
from chatops.server.answers import register_errors
from chatops.server.chat import register_chat
from chatops.server.context import ERRORS, _need, accepted, caller, json_body
from chatops.server.guard import Guard
from chatops.server.intents import register_intents
from chatops.server.keys import KeyRing
from chatops.server.openapi import install as install_openapi
from chatops.server.orchestrate import register_orchestrate, summary_of
from chatops.server.previews import register_previews
from chatops.server.schedules import (
    IntentSchedules,
    poll_loop,
    preview_loop,
    reconcile_loop,
    register_schedules,
    schedule_loop,
    standby_loop,
)
from chatops.server.webhook import register_webhook
from chatops.settings import Settings
from chatops.startup import settled
from chatops.store.audit import AuditLog
from chatops.store.records import RunRecord, RunStatus
from chatops.web.pages import register_pages

#: What starting a run may answer besides 200.
RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, **{code: {"model": m.ErrorBody} for code in (404, 409, 415, 422, 500, 503)}}


def json_request(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads ``model`` as JSON itself."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def rules_of(settings: Settings) -> Rules:
    return Rules.of(settings, sync=settings.sync)


def create_app(settings: Settings, *, runtime: Runtime, engine: Engine,
               keys: KeyRing, audit: AuditLog, metrics: Metrics | None = None,
               log_sink: LogSink | None = None, outbox: Outbox | None = None,
               deliverers: Mapping[str, Target] | None = None) -> Guard:
    """The service as one ASGI app: the guard in front of the FastAPI routes."""
    metrics = metrics or Metrics()
    repo = GitOpsRepo.discover(settings.repo)
    targets = dict(deliverers or {})
    notifications = Notifications(targets, outbox if targets else None,
                                  runtime.settings.public_url)
    digest = (SecurityDigest(outbox, targets, settings.security_window)
              if outbox is not None and targets else None)
    deploys = build_deploys(
        runtime, repo, engine=engine, audit=audit, rules=rules_of(settings),
        forge=forge_of(settings), notifications=notifications,
        sinks=[log_sink] if log_sink is not None else [],
        max_parallel=settings.max_parallel_stacks, metrics=metrics,
        announcers=announcers(settings))
    base = runtime.settings
    scheduler = Scheduler(base.paths.schedules, runtime.clock, timezone=base.timezone,
                          missed=base.missed_runs)
    services = Services(settings, runtime, deploys, audit, metrics, engine,
                        closing=[scheduler.close])
    schedules = IntentSchedules(services, scheduler)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.recover()
        audit.start()
        loop = asyncio.get_running_loop()
        sender = (loop.create_task(outbox.run(targets))
                  if outbox is not None and targets else None)
        digester = loop.create_task(digest.run()) if digest is not None else None
        scheduling = loop.create_task(schedule_loop(services, schedules))
        reaping = loop.create_task(standby_loop(deploys))
        watching = _watchers(loop, deploys, engine, settings)
        # Everything built so far lives as long as the process: keep the collector off
        # it, and from here collect as usual (a command starts with the collector off).
        settled()
        try:
            yield
        finally:
            scheduling.cancel()
            reaping.cancel()
            for task in watching:
                task.cancel()
            stopped = await deploys.ctx.queue.shutdown(settings.shutdown_grace)
            # Orchestrations and webhook sequences wait on runs that are now ended.
            for task in list(deploys.background):
                task.cancel()
            await asyncio.gather(*deploys.background, return_exceptions=True)
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
            services.close()

    api = FastAPI(title="chatops", version=__version__, lifespan=lifespan,
                  description="GitOps for Docker Compose hosts. Send the API key in "
                  "`X-API-Key`.", docs_url="/docs", redoc_url=None)
    api.state.services = services

    register_errors(api, services, digest)
    _register_routes(api, services)
    lockout = Lockout(settings.lockout_failures, settings.lockout_window,
                      settings.lockout_seconds, settings.key_failure_budget)
    _register_surfaces(api, services, schedules, lockout)
    install_openapi(api, settings)
    return Guard(
        api, allowlist=settings.allowlist, proxies=settings.proxies, keys=keys, audit=audit,
        metrics=metrics,
        per_address=RateLimiter(settings.rate_per_address, settings.burst_per_address),
        per_key=RateLimiter(settings.rate_per_key, settings.burst_per_key),
        lockout=lockout,
        max_body=settings.max_body_bytes,
        on_refusal=digest.refused if digest is not None else None,
        max_per_address=settings.max_connections_per_address,
    )


def _watchers(loop: asyncio.AbstractEventLoop, deploys: Deploys, engine: Engine,
              settings: Settings) -> list[asyncio.Task[None]]:
    """Pull mode's polls, the drift passes and each engine's event watcher, as the
    settings ask for them; and the self-upgrades this service is to finish."""
    tasks = [loop.create_task(handoff_loop(deploys.ctx.queue.executor, engine,
                                           deploys.ctx.runtime.clock))]
    if settings.poll_interval:
        tasks.append(loop.create_task(poll_loop(deploys, settings.poll_interval)))
    if settings.reconcile_interval:
        tasks.append(loop.create_task(reconcile_loop(deploys, engine,
                                                     settings.reconcile_interval)))
    if settings.preview_domain:
        tasks.append(loop.create_task(preview_loop(deploys)))
    if settings.watch_events:
        for host in [None, *settings.hosts]:
            watcher = Watcher(engine, deploys.ctx.queue, deploys.announce,
                              deploys.ctx.runtime.masker, host=host)
            tasks.append(loop.create_task(watcher.run()))
    return tasks


def _register_surfaces(api: FastAPI, s: Services, schedules: IntentSchedules,
                       lockout: Lockout) -> None:
    """The adapters beside the API's own routes: the webhook, chat, orchestration,
    schedules, and the dashboard (whose sign-in counts in the guard's lockout)."""
    register_webhook(api, s)
    register_chat(api, s)
    register_orchestrate(api, s)
    register_schedules(api, schedules)
    register_pages(api, s, lockout)
    register_intents(api, s)
    register_previews(api, s)


def _register_routes(api: FastAPI, s: Services) -> None:  # noqa: PLR0915 - one route each
    store = s.runtime.store
    repo = s.deploys.ctx.repo

    @api.post("/run", response_model=m.RunAccepted | m.PlanAnswer, tags=["runs"],
              responses=RUN_ERRORS, openapi_extra=json_request(m.RunBody))
    async def post_run(request: Request) -> JSONResponse:
        """Start a run of an intent (the seed's call). 200 means accepted."""
        who = caller(request, "run")
        body = await json_body(request, m.RunBody)
        idem = request.headers.get("idempotency-key", "") or None
        if idem is not None and len(idem) > 200:
            raise RequestError("Idempotency-Key is longer than 200 characters",
                               field="Idempotency-Key")
        outcome = await s.deploys.run(who, RunAsk(
            name=body.name, sha=body.sha, dry_run=body.dry_run, queue=body.queue,
            idempotency_key=idem, fingerprint=body.fingerprint(), rollback=body.rollback))
        request.scope["state"]["audited"] = True
        if isinstance(outcome, Planned):
            return JSONResponse(m.PlanAnswer(intent=outcome.intent,
                                             plan=plan_to_dict(outcome.plan)).model_dump())
        return await started_answer(outcome, wait=body.wait and not outcome.replay)

    @api.post("/rollback", response_model=m.RunAccepted, tags=["runs"],
              responses=RUN_ERRORS, openapi_extra=json_request(m.RollbackBody))
    async def post_rollback(request: Request) -> JSONResponse:
        """Return a stack to the images of its previous good deploy (scope ``rollback``)."""
        who = caller(request, "rollback")
        body = await json_body(request, m.RollbackBody)
        started = await s.deploys.roll_back(who, body.stack, body.service, queue=body.queue)
        request.scope["state"]["audited"] = True
        return await started_answer(started, wait=body.wait)

    maintenance_doc: dict[str, Any] = {
        "response_model": m.MaintenanceAnswer, "tags": ["traffic"],
        "responses": {**ERRORS, 404: {"model": m.ErrorBody}, 409: {"model": m.ErrorBody},
                      415: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody},
                      500: {"model": m.ErrorBody}, 502: {"model": m.ErrorBody},
                      503: {"model": m.ErrorBody}},
        "openapi_extra": {"requestBody": {"required": True, "content": {
            "application/json": {"schema": m.MaintenanceBody.model_json_schema()}}}},
    }

    @api.post("/pause", **maintenance_doc)
    async def post_pause(request: Request) -> JSONResponse:
        """Hold a blue-green service in maintenance: its proxy answers every request 503
        with the intent's message (scope ``run``)."""
        return await maintenance(request, paused=True)

    @api.post("/resume", **maintenance_doc)
    async def post_resume(request: Request) -> JSONResponse:
        """Send a paused blue-green service's traffic to its live slot again."""
        return await maintenance(request, paused=False)

    async def maintenance(request: Request, *, paused: bool) -> JSONResponse:
        who = caller(request, "run")
        body = await json_body(request, m.MaintenanceBody)
        answer = await s.deploys.maintenance(who, body.stack, body.service, paused=paused)
        request.scope["state"]["audited"] = True
        return JSONResponse(answer)

    async def started_answer(started: Started, *, wait: bool) -> JSONResponse:
        """Accepted (200); with ``wait``, once the run ended, 200 only if it succeeded
        (``RunNotSucceededError`` answers 500 with the run otherwise)."""
        answer = accepted(started)
        if wait:
            answer["run"] = (await s.deploys.wait(started.record.id)).as_dict()
            answer["status"] = answer["run"]["status"]
        return JSONResponse(answer)

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
        return store.get_run(run_id, detail=detail)  # RunNotFoundError: 404

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

    signal_doc: dict[str, Any] = {
        "tags": ["runs"],
        "responses": {**ERRORS, 404: {"model": m.ErrorBody}, 409: {"model": m.ErrorBody},
                      503: {"model": m.ErrorBody}},
    }

    @api.post("/runs/{run_id}/promote", **signal_doc)
    async def promote_run(request: Request, run_id: str) -> dict[str, Any]:
        """End the current step of a running canary now: on to the next weight (or the
        switch). Scope ``run``."""
        return await signal(request, run_id, "promote")

    @api.post("/runs/{run_id}/abort", **signal_doc)
    async def abort_run(request: Request, run_id: str) -> dict[str, Any]:
        """Stop a running canary: every request back to the stable slot, the canary
        stopped, the run ``rolled_back``. Scope ``run``."""
        return await signal(request, run_id, "abort")

    verdict_doc: dict[str, Any] = {
        **signal_doc,
        "responses": {**signal_doc["responses"], 422: {"model": m.ErrorBody}},
        "openapi_extra": {"requestBody": {"required": False, "content": {
            "application/json": {"schema": m.VerdictBody.model_json_schema()}}}},
    }

    @api.post("/runs/{run_id}/approve", **verdict_doc)
    async def approve_run(request: Request, run_id: str) -> dict[str, Any]:
        """Approve a run that waits for approvals (scope ``approve``; one of the intent's
        approvers). A second approval by the same caller counts once."""
        return await verdict(request, run_id, "approve")

    @api.post("/runs/{run_id}/deny", **verdict_doc)
    async def deny_run(request: Request, run_id: str) -> dict[str, Any]:
        """Deny a run that waits for approvals: it ends ``denied``, nothing changed."""
        return await verdict(request, run_id, "deny")

    async def verdict(request: Request, run_id: str, word: str) -> dict[str, Any]:
        who = caller(request, "approve")
        body = (await json_body(request, m.VerdictBody) if await request.body()
                else m.VerdictBody())
        vote = await s.deploys.approve(who, run_id, word, body.sha)
        request.scope["state"]["audited"] = True
        return {**vote.record.as_dict(detail=False), "counted": vote.counted,
                "message": vote.text()}

    async def signal(request: Request, run_id: str, word: str) -> dict[str, Any]:
        who = caller(request, "run")
        record = await s.deploys.signal(who, run_id, word)
        request.scope["state"]["audited"] = True
        return record.as_dict(detail=False)

    @api.get("/runs/{run_id}/log", tags=["runs"], response_class=StreamingResponse,
             responses={**ERRORS, 404: {"model": m.ErrorBody},
                        200: {"content": {"text/event-stream": {}}}})
    async def run_log(request: Request, run_id: str) -> StreamingResponse:
        """Server-sent events: every output line so far, then live lines, then the outcome."""
        _need(request, "read")
        _run_or_404(run_id, detail=False)

        async def events() -> AsyncIterator[bytes]:
            async for kind, data in follow_run(store, s.deploys.stream, run_id,
                                               request.is_disconnected):
                head = f"id: {data['id']}\n" if kind == "line" else ""
                yield f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @api.get("/local", include_in_schema=False)
    async def local_info(request: Request, intent: str | None = None) -> dict[str, Any]:
        """For chatops commands on this host (the unix socket only): which repository
        and process this service is; with ``intent``, what that intent depends on (so
        that ``chatops run`` knows in one request whether it starts a graph)."""
        if not request.scope.get("state", {}).get("local_socket"):
            raise NotFoundError("Not Found")
        info: dict[str, Any] = {"repo": str(repo.root), "pid": os.getpid(),
                                "version": __version__}
        if intent is not None:
            try:
                info["depends_on"] = list(s.deploys.ctx.load(intent).depends_on)
            except ChatopsError:
                info["depends_on"] = None  # the run itself reports what is wrong
        return info

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

