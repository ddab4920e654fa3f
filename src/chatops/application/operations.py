"""Operations on what runs: going back to the previous good deploy, pausing and resuming
a blue-green service, a person's word to a canary, and the standby slots' reaping."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from chatops.application.asks import Started
from chatops.application.caller import Caller
from chatops.application.decisions import RunDecision
from chatops.application.going_back import rollback_plan
from chatops.application.runs import Runs
from chatops.errors import (
    ChatopsError,
    ConflictError,
    NotFoundError,
    ScopeDeniedError,
    StackBusyError,
    TrafficError,
)
from chatops.intents.traffic import Traffic
from chatops.planning.render import plan_to_dict
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore


class BlueGreenTarget(Struct, frozen=True):
    """A blue-green service as its newest good deploy left it."""

    intent: str
    service: str
    traffic: Traffic
    live: str


def blue_green_target(store: RunStore, stack: str, service: str | None) -> BlueGreenTarget:
    for run_id, snap in store.good_snapshots(stack):
        if snap.get("strategy") != "blue-green" or service not in (None, snap.get("service")):
            continue
        last = store.last_traffic(stack, snap["service"]) or {}
        return BlueGreenTarget(
            intent=store.get_run(run_id, detail=False).intent, service=snap["service"],
            traffic=Traffic.model_validate(snap["traffic"]),
            live=last.get("after") or snap.get("slot") or "blue")
    which = f"service {service!r} of stack {stack!r}" if service else f"stack {stack!r}"
    raise NotFoundError(f"no blue-green deploy of {which} succeeded yet (the run history "
                        "has none); pause and resume act on blue-green services")


class Operations(Runs):
    async def roll_back(self, caller: Caller, stack: str, service: str | None = None,
                        *, queue: bool = True) -> Started:
        """Return ``stack`` to the images of its previous good deploy (the newest older
        than what runs now), verified by that deploy's health gates."""
        async with self._audited(caller):
            if not caller.may("rollback"):
                raise ScopeDeniedError(f"key {caller.name!r} lacks the 'rollback' scope")
            intent, plan = rollback_plan(self.store, self.ctx.runtime.settings, stack,
                                         service)
            if not queue:
                busy = self.ctx.queue.busy([stack])
                if busy:
                    raise StackBusyError(busy, intent=intent.name)
            run_id = await self._start(caller, RunDecision(intent=intent, sha=None), plan)
            return Started(self.store.get_run(run_id, detail=False), plan_to_dict(plan))

    async def maintenance(self, caller: Caller, stack: str, service: str | None = None,
                          *, paused: bool) -> dict[str, Any]:
        """Pause a blue-green service (the proxy answers every request 503 with the
        intent's message) or resume it on the slot it served from."""
        what = "pause" if paused else "resume"
        async with self._audited(caller):
            target = blue_green_target(self.store, stack, service)
            refusal = caller.permissions.refusal(target.intent, [stack], [what])
            if refusal is not None:
                raise ScopeDeniedError(refusal, intent=target.intent)
            busy = self.ctx.queue.busy([stack])
            if busy:
                raise StackBusyError(busy, intent=target.intent)
            driver = self.ctx.runtime.traffic(stack, target.service, target.traffic)
            try:
                await driver.check()
                if paused:
                    await driver.pause()
                else:
                    await driver.resume(target.live)
                routing = await driver.routing()
            finally:
                await driver.close()
            if paused != routing.paused:
                raise TrafficError(f"the proxy did not confirm the {what} of {stack}/"
                                   f"{target.service} (live: {routing.live or 'none'})")
            done = (f"paused {stack}/{target.service}: every request is answered 503 "
                    f"({target.traffic.driver})" if paused else
                    f"resumed {stack}/{target.service} on slot {target.live}")
            self._record(caller, "accepted", 200, intent=target.intent, reason=done)
            self.audit_written(target.intent)
            return {"stack": stack, "service": target.service, "paused": routing.paused,
                    "live": routing.live, "driver": target.traffic.driver,
                    "message": done}

    async def signal(self, caller: Caller, run_id: str, signal: str) -> RunRecord:
        """A person's word to a running canary: ``promote`` (its current step ends now)
        or ``abort`` (every request back to the stable slot, the run rolled back)."""
        async with self._audited(caller):
            record = self.store.get_run(run_id, detail=False)
            refusal = caller.permissions.refusal(record.intent, record.stacks, [signal])
            if refusal is not None:
                raise ScopeDeniedError(refusal, intent=record.intent)
            if record.status is not RunStatus.running:
                raise ConflictError(f"run {run_id} is {record.status}, not running: there "
                                    f"is no canary to {signal}", intent=record.intent)
            canary = (record.traffic or {}).get("canary")
            if canary is None:
                raise ConflictError(f"run {run_id} has no canary step under way (yet); "
                                    f"nothing to {signal}", intent=record.intent)
            self.store.add_signal(run_id, signal, caller.name)
            self._record(caller, "accepted", 200, intent=record.intent, run_id=run_id,
                         reason=f"{signal} canary of run {run_id} at step "
                         f"{canary.get('step')} ({canary.get('weight')}%)")
            self.audit_written(record.intent)
            return self.store.get_run(run_id, detail=False)

    async def reap_standby(self, caller: Caller) -> list[str]:
        """Remove the standby slots whose window has passed (their containers; never
        their volumes), unless their stack is busy or the proxy says they serve."""
        from datetime import UTC, datetime  # noqa: PLC0415

        removed: list[str] = []
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        for entry in self.store.expired_standby(now):
            stack, service, slot = entry["stack"], entry["service"], entry["slot"]
            if self.ctx.queue.busy([stack]):
                continue
            try:
                driver = self.ctx.runtime.traffic(
                    stack, service, Traffic.model_validate(entry["traffic"]))
                try:
                    routing = await driver.routing()
                finally:
                    await driver.close()
                engine = self.ctx.queue.executor.engine
                resumes_on = (self.store.last_traffic(stack, service) or {}).get("after")
                if slot in routing.ready or (routing.paused and slot == resumes_on):
                    self.store.clear_standby(stack, service, entry["run_id"])
                    continue  # it serves (or will on resume): not a standby any more
                containers = await engine.containers(entry["project"], [service])
                for container in containers:
                    await engine.remove(container.id)
            except ChatopsError:
                continue  # the proxy or the engine is away: try again next time
            self.store.clear_standby(stack, service, entry["run_id"])
            what = (f"removed the standby slot {slot} of {stack}/{service} (its window "
                    f"ended at {entry['until']}; {len(containers)} container(s))")
            self._record(caller, "accepted", 200, reason=what, run_id=entry["run_id"])
            removed.append(what)
        return removed
