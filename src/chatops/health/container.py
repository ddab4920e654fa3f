"""The ``container`` gate: a service's containers run (or are healthy) and stay up.

chatops adds one itself to every step that leaves containers running (``implicit``): the
step's services run, healthy where they have a Docker healthcheck, and neither exit nor
restart. Without a probe (an HTTP or TCP check) they must stay up for a stability window;
with one, the probes stand in for the window while exits and restarts are watched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from chatops.durations import format_duration
from chatops.errors import EngineError
from chatops.health.registry import (
    Check,
    GateContext,
    GateFailed,
    GateKind,
    GateResult,
    blind,
    keeps,
    poll,
    register,
)
from chatops.intents.fields import Duration, Service

if TYPE_CHECKING:
    from chatops.clock import Clock
    from chatops.engine.base import ContainerState

CONTAINER_POLL = 0.05


class ContainerCheck(Check):
    """Wait until a service's containers are running (or healthy) and stay so."""

    container: Service = Field(description="compose service whose containers are checked")
    state: Literal["running", "healthy"] = "running"
    within: Duration = 60.0
    stable_for: Duration = Field(
        default=2.0, description="how long the containers must stay up without restarting"
    )


def describe(check: ContainerCheck) -> str:
    return (f"containers of service {check.container} are {check.state} and do not restart "
            f"for {format_duration(check.stable_for)} (within {format_duration(check.within)})")


def _container_problems(
    containers: list[ContainerState], expected: Mapping[str, int], want_healthy: bool,
    restarts: dict[str, int],
) -> tuple[list[str], str | None]:
    """(reasons it is not ready yet, or a fatal reason it never will be)."""
    waiting: list[str] = []
    for service, count in expected.items():
        mine = [c for c in containers if c.service == service]
        running = [c for c in mine if c.running]
        for c in mine:
            if count and c.state in ("exited", "dead"):
                return waiting, f"{c.name} {c.state} with exit code {c.exit_code}"
            if c.state == "restarting":
                return waiting, f"{c.name} is restarting (exit code {c.exit_code})"
            first = restarts.setdefault(c.id, c.restart_count)
            if c.restart_count > first:
                return waiting, f"{c.name} restarted {c.restart_count - first} time(s)"
            if c.health == "unhealthy":
                return waiting, f"{c.name} reports unhealthy"
            if c.running and c.health == "starting":
                waiting.append(f"{c.name} health is starting")
            elif c.running and want_healthy and c.health is None:
                return waiting, (f"{c.name} has no Docker healthcheck, so it can never report "
                                 "healthy (use state: running)")
        if len(running) != count:
            waiting.append(f"{service}: {len(running)} of {count} container(s) running")
    return waiting, None


def _started(containers: list[ContainerState], clock: Clock) -> float | None:
    """When the last of ``containers`` started, on ``clock``'s monotonic scale (the
    engine's start time, not when a poll first saw them), or None when one does not say."""
    try:
        last = max(datetime.fromisoformat(c.started_at) for c in containers)
    except (ValueError, TypeError):  # none, or one without a (zoned) start time: from now
        return None
    now = clock.monotonic()
    return min(now, now - (clock.now() - last).total_seconds())


async def run(check: ContainerCheck, ctx: GateContext) -> GateResult:
    """Containers running (healthy where asked), steady for ``stable_for``; or, for the
    implicit gate beside probes, watched until the probes passed."""
    if ctx.implicit:
        wanted = {s: ctx.expected.get(s, 1) for s in ctx.services}
        want_healthy = False
    else:
        svc = check.container
        wanted = {svc: ctx.expected.get(svc, ctx.spec.get(svc, 1))}
        want_healthy = check.state == "healthy"
    until = ctx.others_passed if ctx.implicit else None
    clock = ctx.clock
    counts = ", ".join(f"{s}: {n}" for s, n in wanted.items())
    steady_since: float | None = None
    restarts: dict[str, int] = {}

    async def attempt(deadline: float) -> tuple[bool, str]:
        nonlocal steady_since
        try:
            containers = await ctx.engine.containers(ctx.project or "", list(wanted))
        except EngineError as exc:
            raise GateFailed(exc.message) from None
        waiting, fatal = _container_problems(containers, wanted, want_healthy, restarts)
        if fatal:
            raise GateFailed(fatal)
        now = clock.monotonic()
        if waiting:
            steady_since = None
            return False, "; ".join(waiting)
        if steady_since is None:  # steady since the last of them started, not since seen
            steady_since = _started(containers, clock) or now
        if until is not None:
            if until.is_set():
                return True, f"running, no restart while the other gates ran ({counts})"
            return False, "waiting for the other gates"
        left = check.stable_for - (now - steady_since)
        if left <= 1e-3:  # (a millisecond: what a clock's rounding may leave)
            return True, f"running and steady for {check.stable_for:g}s ({counts})"
        if left < CONTAINER_POLL and now + left < deadline:
            # The window ends before the next look would: look again right at its end.
            await clock.sleep(left)
            return await attempt(deadline)
        return False, "not yet steady"

    return await poll(attempt, kind="container", description=ctx.description,
                      within=check.within, interval=CONTAINER_POLL, clock=clock,
                      failed=lambda last: f"not ready within {check.within:g}s: {last}",
                      wake=until)


#: It looks at the step's containers, whichever slot they are: the same check for every
#: slot, and nothing to check through the proxy.
KIND = register(GateKind(key="container", model=ContainerCheck, describe=describe, run=run,
                         aim=keeps, sees_stable=blind, probe=False))
