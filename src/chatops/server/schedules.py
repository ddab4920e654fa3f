"""Scheduled runs inside the service, and ``GET /schedules``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI, Request

from chatops.errors import ChatopsError
from chatops.runner.scheduler import Scheduler
from chatops.server import models as m
from chatops.server.context import Services, _load, _need, _plan, window_check


def intent_schedules(s: Services) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        paths = s.repo.intent_files()
    except ChatopsError:
        return found
    for path in paths:
        try:
            intent = _load(s, path.stem)
        except Exception:  # noqa: S112 - an invalid intent has no schedule
            continue
        if intent.schedule:
            found[intent.name] = intent.schedule
    return found


async def schedule_loop(s: Services, scheduler: Scheduler) -> None:
    async def start(name: str) -> str:
        window_check(s, None, name)  # outside a window: ApiError, recorded as skipped
        run_id = s.manager.submit(_plan(s, _load(s, name)), trigger="schedule",
                                  actor="scheduler", client="scheduler", sha=None)
        s.audit.record(client="scheduler", method="SCHEDULE", endpoint="schedule",
                       decision="accepted", status=200, request_id=run_id,
                       key_name="scheduler", intent=name, run_id=run_id)
        return run_id

    while True:
        with contextlib.suppress(ChatopsError):
            scheduler.load(intent_schedules(s))
            for intent, decision in await scheduler.tick(start, s.manager.running_intent):
                if not decision.startswith("started"):
                    s.audit.record(client="scheduler", method="SCHEDULE", endpoint="schedule",
                                   decision="skipped", status=200, request_id="-",
                                   key_name="scheduler", intent=intent, reason=decision)
        await asyncio.sleep(scheduler.seconds_to_next())


def register_schedules(api: FastAPI, s: Services, scheduler: Scheduler) -> None:
    @api.get("/schedules", tags=["runs"], responses={
        401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody},
        429: {"model": m.ErrorBody}})
    async def list_schedules(request: Request) -> dict[str, Any]:
        """Scheduled intents with their next time, last fire and what was decided."""
        _need(request, "read")
        scheduler.load(intent_schedules(s))
        return {"timezone": str(scheduler.tz), "missed_runs": scheduler.missed,
                "schedules": [{"intent": st.intent, "cron": st.cron,
                               "next": st.next_fire.isoformat(),
                               "last_fire": st.last_fire.isoformat(),
                               "last_decision": st.last_decision,
                               "last_run_id": st.last_run_id}
                              for st in scheduler.states()]}
