"""Each gate polls until it passes or its deadline passes. Time comes from a ``Clock``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from chatops.clock import Clock
from chatops.engine.base import ContainerState, Engine
from chatops.errors import EngineError
from chatops.intents.model import HttpCheck, TcpCheck

CONTAINER_POLL = 0.05


@dataclass(frozen=True)
class GateResult:
    kind: str
    description: str
    ok: bool
    detail: str
    duration: float


async def http_gate(check: HttpCheck, description: str, clock: Clock) -> GateResult:
    import httpx  # noqa: PLC0415 - only steps with an HTTP gate pay for importing it

    start = clock.monotonic()
    deadline = start + check.within
    lo, hi = check.status
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=check.timeout, follow_redirects=False,
                                 trust_env=False) as client:
        while True:
            try:
                resp = await client.get(check.http)
                body_ok = check.body is None or check.body in resp.text
                if lo <= resp.status_code <= hi and body_ok:
                    return GateResult("http", description, True,
                                      f"answered {resp.status_code}",
                                      clock.monotonic() - start)
                last = f"answered {resp.status_code}"
                if not body_ok:
                    last += f" without {check.body!r} in the body"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return GateResult(
                    "http", description, False,
                    f"GET {check.http} did not pass within {check.within:g}s; last: {last}",
                    clock.monotonic() - start)
            await clock.sleep(min(check.interval, remaining))


async def tcp_gate(check: TcpCheck, description: str, clock: Clock) -> GateResult:
    start = clock.monotonic()
    deadline = start + check.within
    host, _, port = check.tcp.rpartition(":")
    host = host.strip("[]")
    last = "no answer yet"
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                               max(0.1, min(5.0, deadline - clock.monotonic())))
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return GateResult("tcp", description, True, "accepted a connection",
                              clock.monotonic() - start)
        except (OSError, TimeoutError) as exc:
            last = str(exc) or type(exc).__name__
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return GateResult("tcp", description, False,
                              f"{check.tcp} refused connections for {check.within:g}s; "
                              f"last: {last}", clock.monotonic() - start)
        await clock.sleep(min(check.interval, remaining))


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


async def container_gate(
    engine: Engine, project: str, expected: Mapping[str, int], *, description: str,
    within: float, stable_for: float, want_healthy: bool, clock: Clock,
    until: asyncio.Event | None = None,
) -> GateResult:
    """Containers running (healthy where a healthcheck exists), steady for ``stable_for``.

    With ``until``, the other gates of the step stand in for the stability window: the
    containers are watched (an exit or a restart fails at once) until ``until`` is set,
    then must be running, unchanged and ready at that moment.
    """
    start = clock.monotonic()
    deadline = start + within
    steady_since: float | None = None
    restarts: dict[str, int] = {}
    last = "not checked yet"
    while True:
        try:
            containers = await engine.containers(project, list(expected))
        except EngineError as exc:
            return GateResult("container", description, False, exc.message,
                              clock.monotonic() - start)
        waiting, fatal = _container_problems(containers, expected, want_healthy, restarts)
        now = clock.monotonic()
        if fatal:
            return GateResult("container", description, False, fatal, now - start)
        if waiting:
            steady_since = None
            last = "; ".join(waiting)
        else:
            steady_since = steady_since if steady_since is not None else now
            watched = until is not None and until.is_set()
            if watched or (until is None and now - steady_since >= stable_for):
                if watched:
                    counts = ", ".join(f"{s}: {n}" for s, n in expected.items())
                    return GateResult("container", description, True,
                                      f"running, no restart while the other gates ran "
                                      f"({counts})", now - start)
                counts = ", ".join(f"{s}: {n}" for s, n in expected.items())
                return GateResult("container", description, True,
                                  f"running and steady for {stable_for:g}s ({counts})",
                                  now - start)
            last = "not yet steady" if until is None else "waiting for the other gates"
        if now >= deadline:
            return GateResult("container", description, False,
                              f"not ready within {within:g}s: {last}", now - start)
        await clock.sleep(min(CONTAINER_POLL, max(0.0, deadline - now)))
