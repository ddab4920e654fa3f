"""``POST /orchestrate``: several intents and their dependencies, run as one graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from chatops.application.wiring import Services
from chatops.errors import RunNotSucceededError
from chatops.intents.model import NAME_RE
from chatops.planning.render import plan_to_dict
from chatops.server import models as m
from chatops.server.context import caller, json_body
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
        who = caller(request, "run")
        body = await json_body(request, OrchestrateBody)
        graph = await s.deploys.orchestrate(
            who, body.intents, dry_run=body.dry_run, stop_on_failure=body.stop_on_failure)
        request.scope["state"]["audited"] = True
        order, parent = graph.order, graph.parent
        if parent is None:
            return JSONResponse({"dry_run": True, "intents": order, "plans": {
                n: plan_to_dict(p) for n, p in graph.plans.items()}})
        answer = {"id": parent.id, "status": "running", "intents": order,
                  "links": {"self": f"/runs/{parent.id}"}}
        if not body.wait:
            return JSONResponse(answer)
        await graph.summary(s.settings.wait_timeout)
        record = s.runtime.store.get_run(parent.id, detail=False)
        store = s.runtime.store
        detail = record.as_dict(detail=False)
        detail["children"] = [c.as_dict(detail=False) for c in store.children(parent.id)]
        if record.status is not RunStatus.succeeded:
            error = RunNotSucceededError(str(record.status), record.reason or
                                         str(record.status), detail)
            error.audited = True  # the run's outcome, recorded with the run
            raise error
        return JSONResponse({**answer, "status": str(record.status), "run": detail})
