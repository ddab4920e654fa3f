"""``GET /previews`` (each preview of a pull request: its address, state, age and
resources) and ``DELETE /previews/{number}`` (remove a pull request's previews now)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as FastApiPath

from chatops.application.wiring import Services
from chatops.server import models as m
from chatops.server.context import ERRORS, _need, caller


async def listing(s: Services) -> list[dict[str, Any]]:
    """Every preview with its containers and age (the dashboard shows the same)."""
    deploys, out = s.deploys, []
    now = datetime.now(UTC)
    for row in s.runtime.store.previews():
        containers = await s.engine.containers(row.project)
        created = datetime.fromisoformat(row.created_at.replace("Z", "+00:00"))
        out.append({**row.as_dict(), "url": deploys.preview_url(row.hosts[-1]),
                    "age_seconds": int((now - created).total_seconds()),
                    "containers": len(containers),
                    "running": sum(1 for c in containers if c.running)})
    return out


def register_previews(api: FastAPI, s: Services) -> None:
    @api.get("/previews", response_model=m.PreviewList, tags=["previews"],
             responses=ERRORS)
    async def list_previews(request: Request) -> dict[str, Any]:
        """Every preview that runs: pull request, stack, address, state, age, containers."""
        _need(request, "read")
        return {"previews": await listing(s)}

    @api.delete("/previews/{number}", response_model=m.PreviewsRemoved, tags=["previews"],
                responses={**ERRORS, 403: {"model": m.ErrorBody}})
    async def destroy_previews(request: Request, number: Annotated[int, FastApiPath(
            ge=1, le=999_999_999)]) -> dict[str, Any]:
        """Remove every preview of pull request ``number`` now (scope ``run``)."""
        who = caller(request, "run")
        removed = await s.deploys.destroy_previews(who, number)
        request.scope["state"]["audited"] = True
        return {"pull_request": number, "removed": removed}
