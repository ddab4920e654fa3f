"""``POST /orchestrate``: several intents and their dependencies, run as one graph."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatops.intents.graph import topological_order
from chatops.intents.model import NAME_RE
from chatops.planning.render import plan_to_dict
from chatops.runner.executor import RunOutcome
from chatops.runner.orchestrator import GraphError, Summary, closure, orchestrate
from chatops.server import models as m
from chatops.server.commits import approval
from chatops.server.context import (
    ApiError,
    Services,
    _ctx,
    _error_response,
    _json_body,
    _load,
    _need,
    _plan,
    checked_name,
    window_check,
)
from chatops.store.records import RunStatus


class OrchestrateBody(BaseModel):
    """The seed service's shape: ``{"intents": [...]}``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # The pattern is documented here and checked by ``checked_name`` (one code for it).
    intents: list[Annotated[str, Field(json_schema_extra={"pattern": NAME_RE.pattern})]] = \
        Field(min_length=1, max_length=100)
    stop_on_failure: bool = True
    dry_run: bool = False
    wait: bool = False


def summary_of(children: list[Any]) -> dict[str, int]:
    statuses = [str(c.status) for c in children]
    return {"total": len(statuses), "succeeded": statuses.count("succeeded"),
            "rolled_back": statuses.count("rolled_back"),
            "failed": statuses.count("failed") + statuses.count("rollback_failed"),
            "interrupted": statuses.count("interrupted")}


async def _checked_graph(s: Services, request: Request, key: Any
                         ) -> tuple[OrchestrateBody, dict[str, Any], list[str], dict[str, Any]]:
    """Body, intents (with their dependencies), order and plans; or the refusal."""
    try:
        body = OrchestrateBody.model_validate(await _json_body(request))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ApiError(422, "invalid_body", str(err["msg"]),
                       field=".".join(str(p) for p in err["loc"]) or None) from None
    for name in body.intents:
        checked_name(name, field="intents")
    if s.settings.commit_required or s.github is not None:
        raise ApiError(403, "commit_required", "orchestrated runs name no commit; with "
                       "GitHub enforcement, deploy through POST /run or the webhook")
    try:
        intents = closure(body.intents, lambda name: _load(s, name))
    except GraphError as exc:
        cycle = exc.message.startswith("dependency cycle")
        raise ApiError(422 if cycle else 404, "dependency_cycle" if cycle else
                       "intent_not_found", exc.message) from None
    # Unknown or invalid intents: _load already answers 404 or 422.
    for intent in intents.values():
        stacks = sorted({d.stack for d in intent.documents})
        refusal = key.refusal(intent.name, stacks, [d.action for d in intent.documents])
        if refusal:
            raise ApiError(403, "scope_denied", refusal, intent=intent.name)
        await approval(s, intent, "")
    order = topological_order({n: i.depends_on for n, i in intents.items()})
    plans = {n: _plan(s, intents[n]) for n in order}
    return body, intents, order, plans


def register_orchestrate(api: FastAPI, s: Services) -> None:
    @api.post("/orchestrate", tags=["runs"],
              responses={401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody},
                         404: {"model": m.ErrorBody}, 413: {"model": m.ErrorBody},
                         415: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody},
                         429: {"model": m.ErrorBody}, 500: {"model": m.ErrorBody},
                         503: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": OrchestrateBody.model_json_schema()}}}})
    async def post_orchestrate(request: Request) -> JSONResponse:
        """Run intents and everything they depend on: dependencies first, independent
        ones in parallel; a failure skips what depends on it."""
        client, request_id, _ = _ctx(request)
        key = _need(request, "run")
        body, intents, order, plans = await _checked_graph(s, request, key)
        override = None if body.dry_run else window_check(s, key)
        if body.dry_run:
            return JSONResponse({"dry_run": True, "intents": order,
                                 "plans": {n: plan_to_dict(p) for n, p in plans.items()}})
        store = s.runtime.store
        parent = store.create_run(
            intent="orchestrate:" + ",".join(body.intents), trigger="api", actor=key.name,
            client=client, stacks=sorted({st.stack for p in plans.values() for st in p.steps}),
            plan={"orchestrate": order})
        liveness = s.runtime.locks.hold_run(parent.id)
        store.mark_running(parent.id)

        async def start(name: str) -> RunOutcome:
            run_id = s.manager.submit(plans[name], trigger="api", actor=key.name,
                                      client=client, sha=None, parent_id=parent.id)
            outcome = await s.manager.wait(run_id, s.settings.wait_timeout)
            if outcome is None:
                return RunOutcome(run_id, RunStatus.interrupted, "did not end in time")
            return outcome

        async def run_graph() -> Summary | None:
            try:
                summary = await orchestrate(intents, start,
                                            max_parallel=s.settings.max_parallel_stacks,
                                            stop_on_failure=body.stop_on_failure)
            except asyncio.CancelledError:
                store.finish_run(parent.id, RunStatus.interrupted,
                                 "the service stopped during the orchestration")
                liveness.release()
                raise
            store.finish_run(parent.id, summary.status(), summary.text())
            liveness.release()
            return summary

        task = asyncio.get_running_loop().create_task(run_graph())
        s.background.add(task)
        request.scope["state"]["audited"] = True
        s.audit.record(client=client, method="POST", endpoint="/orchestrate",
                       decision="accepted", status=200, request_id=request_id,
                       key_name=key.name, run_id=parent.id,
                       reason=", ".join(order) + (f"; {override}" if override else ""))
        s.audit.flush()
        answer = {"id": parent.id, "status": "running", "intents": order,
                  "links": {"self": f"/runs/{parent.id}"}}
        if not body.wait:
            return JSONResponse(answer)
        await asyncio.wait_for(asyncio.shield(task), s.settings.wait_timeout)
        record = store.get_run(parent.id, detail=False)
        detail = record.as_dict(detail=False)
        detail["children"] = [c.as_dict(detail=False) for c in store.children(parent.id)]
        if record.status is not RunStatus.succeeded:
            return _error_response(ApiError(500, f"run_{record.status}",
                                            record.reason or str(record.status), run=detail),
                                   request_id)
        return JSONResponse({**answer, "status": str(record.status), "run": detail})
