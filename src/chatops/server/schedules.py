"""The service's own loops: scheduled runs (and ``GET /schedules``), pull mode's polls,
and the removal of blue-green standby slots."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from chatops.application.caller import Caller, Trusted
from chatops.application.deploys import Deploys
from chatops.application.wiring import Services
from chatops.engine.base import Engine
from chatops.errors import ChatopsError
from chatops.runner.scheduler import Scheduler
from chatops.server import models as m
from chatops.server.context import _need

SCHEDULER = Caller(via="schedule", permissions=Trusted("scheduler"), client="scheduler",
                   method="SCHEDULE", endpoint="schedule")


class IntentSchedules:
    """Each scheduled intent's cron, read again only when an intent file changed (one
    directory read tells): the loop asks at every tick, and with a thousand intents
    reading them all each time kept a thread busy, and the requests waiting on it. One
    for the service: the loop and ``GET /schedules`` load what it read into its
    ``scheduler``."""

    def __init__(self, s: Services, scheduler: Scheduler) -> None:
        self.s = s
        self.scheduler = scheduler
        self.stamp: tuple[tuple[str, int, int], ...] | None = None
        self.found: dict[str, str] = {}

    def read(self) -> dict[str, str]:
        repo = self.s.deploys.ctx.repo
        try:
            stamp = repo.intent_stamps()
        except ChatopsError:
            return {}
        if stamp == self.stamp:
            return self.found
        found: dict[str, str] = {}
        for name, _, _ in stamp:
            try:
                intent = self.s.deploys.ctx.load(Path(name).stem)
            except ChatopsError:
                continue  # an invalid intent has no schedule
            if intent.schedule:
                found[intent.name] = intent.schedule
        self.stamp, self.found = stamp, found
        return found


async def schedule_loop(s: Services, schedules: IntentSchedules) -> None:
    scheduler = schedules.scheduler
    refused: set[str] = set()  # fires the use case refused and recorded already

    async def start(name: str) -> str:
        try:
            return await s.deploys.fire(SCHEDULER, name)
        except ChatopsError:
            refused.add(name)
            raise

    while True:
        with contextlib.suppress(ChatopsError):
            # Read off the event loop: with a thousand intents, requests go on meanwhile.
            scheduler.load(await asyncio.to_thread(schedules.read))
            refused.clear()
            for intent, decision in await scheduler.tick(start, s.deploys.ctx.queue.
                                                         running_intent):
                if not decision.startswith("started") and intent not in refused:
                    s.deploys.skipped(SCHEDULER, intent, decision)
        await asyncio.sleep(scheduler.seconds_to_next())


STANDBY_EVERY = 30.0
HOUSEKEEPER = Caller(via="service", permissions=Trusted("chatops-standby"),
                     client="service", method="SERVICE", endpoint="(standby)")


async def standby_loop(deploys: Deploys) -> None:
    """Remove blue-green standby slots once their window has passed."""
    while True:
        await asyncio.sleep(STANDBY_EVERY)
        with contextlib.suppress(ChatopsError):
            await deploys.reap_standby(HOUSEKEEPER)


def register_schedules(api: FastAPI, schedules: IntentSchedules) -> None:
    scheduler = schedules.scheduler
    @api.get("/schedules", tags=["runs"], responses={
        401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody},
        429: {"model": m.ErrorBody}})
    async def list_schedules(request: Request) -> dict[str, Any]:
        """Scheduled intents with their next time, last fire and what was decided."""
        _need(request, "read")
        scheduler.load(schedules.read())
        return {"timezone": str(scheduler.tz), "missed_runs": scheduler.missed,
                "schedules": [{"intent": st.intent, "cron": st.cron,
                               "next": st.next_fire.isoformat(),
                               "last_fire": st.last_fire.isoformat(),
                               "last_decision": st.last_decision,
                               "last_run_id": st.last_run_id}
                              for st in scheduler.states()]}


POLLER = Caller(via="poll", permissions=Trusted("pull mode"), client="poller",
                method="POLL", endpoint="(pull mode)")


async def poll_loop(deploys: Deploys, every: float) -> None:
    """Pull mode: one poll now, then one every ``every`` seconds (what each found is in
    the audit trail; a failing fetch is announced by the use case)."""
    while True:
        try:
            await deploys.poll(POLLER)
        except ChatopsError:
            pass  # recorded by the use case
        except Exception as exc:  # a poll that broke must not end pull mode
            sys.stderr.write(f"chatops: pull mode: {type(exc).__name__}: {exc}\n")
        await asyncio.sleep(every)


RECONCILER = Caller(via="reconcile", permissions=Trusted("reconcile"), client="reconciler",
                    method="RECONCILE", endpoint="(reconcile)")


async def reconcile_loop(deploys: Deploys, engine: Engine, every: float) -> None:
    """A drift pass every ``every`` seconds, each stack's drift told (and healed) as its
    intents' ``reconcile`` says."""
    while True:
        await asyncio.sleep(every)
        try:
            await deploys.reconcile(RECONCILER, engine)
        except ChatopsError:
            pass  # recorded by the use case
        except Exception as exc:  # a pass that broke must not end reconciling
            sys.stderr.write(f"chatops: reconcile: {type(exc).__name__}: {exc}\n")


async def preview_loop(deploys: Deploys, every: float = 5.0) -> None:
    """Previews whose ``ttl`` passed are removed (checked every ``every`` seconds)."""
    while True:
        await asyncio.sleep(every)
        try:
            await deploys.expire_previews()
        except Exception as exc:  # a pass that broke must not end the expiry
            sys.stderr.write(f"chatops: previews: {type(exc).__name__}: {exc}\n")
