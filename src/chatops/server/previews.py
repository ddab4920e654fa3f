"""``GET /previews`` (each preview of a pull request: its address, state, age and
resources) and ``DELETE /previews/{number}`` (remove a pull request's previews now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as FastApiPath

from chatops.application.wiring import Services
from chatops.server import models as m
from chatops.server.context import ERRORS, _need, caller


def register_previews(api: FastAPI, s: Services) -> None:
    @api.get("/previews", response_model=m.PreviewList, tags=["previews"],
             responses=ERRORS)
    async def list_previews(request: Request) -> dict[str, Any]:
        """Every preview that runs: pull request, stack, address, state, age, containers."""
        _need(request, "read")
        return {"previews": await s.deploys.preview_list()}

    @api.delete("/previews/{number}", response_model=m.PreviewsRemoved, tags=["previews"],
                responses={**ERRORS, 403: {"model": m.ErrorBody}})
    async def destroy_previews(request: Request, number: Annotated[int, FastApiPath(
            ge=1, le=999_999_999)]) -> dict[str, Any]:
        """Remove every preview of pull request ``number`` now (scope ``run``)."""
        who = caller(request, "run")
        removed = await s.deploys.destroy_previews(who, number)
        request.scope["state"]["audited"] = True
        return {"pull_request": number, "removed": removed}
