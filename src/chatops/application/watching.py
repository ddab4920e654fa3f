"""Runtime alerts outside deploys: the engine's event stream, read for every Compose
project (and Swarm stack) on this host, tells when a container dies, is OOM-killed,
turns unhealthy, or restarts more than ``FLAP`` times in a row of minutes.

- Events of a stack that a run holds (a deploy stops and recreates containers) are not
  alerts.
- Events are grouped for ``WINDOW`` seconds: a stack's failures are one message (with
  the last log lines of the first container, masked); many stacks failing at once (a
  host restart) are one message for the host, not forty.
- A stack is told at most once per ``QUIET`` seconds; what happens meanwhile is told
  after. A container told about that runs (or turns healthy) again is told once.
- The stream is read again from the last event's time after the engine restarts or the
  connection drops (``since``): nothing that happened meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from msgspec import Struct, field

from chatops.application.queue import RunManager
from chatops.engine.base import Engine
from chatops.engine.hosts import on_host
from chatops.errors import ChatopsError
from chatops.masking import Masker
from chatops.notify.messages import ChatMessage, containers_message

WINDOW = 1.0
QUIET = 60.0
MANY_STACKS = 4
FLAP = (3, 600.0)  # this many starts within this many seconds: a crash loop
LOG_LINES = 10


class Finding(Struct):
    stack: str
    container: str
    container_id: str
    service: str
    what: str  # died (exit code 137), oom-killed, unhealthy, restarting 4 times in 10m

    def line(self) -> str:
        return f"{self.container} ({self.service}) {self.what}"


class Watcher(Struct):
    engine: Engine
    queue: RunManager
    announce: Callable[[ChatMessage, str], None]
    masker: Masker
    host: str | None = None
    clock: Callable[[], float] = time.monotonic
    since: float | None = None
    pending: list[Finding] = field(default_factory=list)
    recovered: list[Finding] = field(default_factory=list)
    down: dict[str, Finding] = field(default_factory=dict)  # told, by container id
    told_at: dict[str, float] = field(default_factory=dict)  # stack: when
    starts: dict[str, deque[float]] = field(default_factory=dict)
    problem: str | None = None  # why the stream cannot be read now
    #: The last events read: read again from ``since`` after a reconnect, they are
    #: not told twice.
    seen: deque[tuple[Any, ...]] = field(default_factory=lambda: deque(maxlen=512))

    async def run(self) -> None:
        """Read the stream for ever (reconnecting), telling what it finds."""
        self.since = self.since or time.time()
        flusher = asyncio.create_task(self._flush_loop())
        pause = 1.0
        try:
            while True:
                began = self.clock()
                try:
                    with on_host(self.host):
                        async for event in self.engine.events(self.since):
                            self.since = _time_of(event) or self.since
                            self.problem = None
                            self.handle(event)
                    pause = 1.0
                except (ChatopsError, OSError) as exc:
                    self.problem = str(exc)
                    pause = min(pause * 2, 30.0)
                if self.clock() - began < pause:  # a stream that ends at once: no spin
                    await asyncio.sleep(pause)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    def _held(self, project: str) -> bool:
        """Whether a run holds the stack (or the stack of a blue-green slot project)."""
        return any(self.queue.busy([name]) for name in {project, project.rsplit("-", 2)[0]})

    def handle(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        key = (event.get("timeNano"), actor.get("ID"), event.get("Action"))
        if key in self.seen:
            return
        self.seen.append(key)
        attrs: dict[str, str] = actor.get("Attributes") or {}
        project = attrs.get("com.docker.compose.project") or \
            attrs.get("com.docker.stack.namespace")
        if not project or self._held(project):
            return
        action = str(event.get("Action") or event.get("status") or "")
        cid = str(actor.get("ID") or "")
        name = attrs.get("name", cid[:12])
        service = attrs.get("com.docker.compose.service") or \
            attrs.get("com.docker.swarm.service.name", "?")
        found = Finding(project, name, cid, service, "")
        if action == "die":
            found.what = f"died (exit code {attrs.get('exitCode', '?')})"
        elif action == "oom":
            found.what = "was OOM-killed"
        elif action.startswith("health_status") and action.endswith("unhealthy"):
            found.what = "is unhealthy"
        elif action == "start" or (action.startswith("health_status")
                                   and action.endswith(" healthy")):
            self._started(found, action == "start")
            return
        else:
            return
        self.pending.append(found)

    def _started(self, found: Finding, counted: bool) -> None:
        if counted:
            now = self.clock()
            starts = self.starts.setdefault(found.container_id, deque(maxlen=FLAP[0] + 1))
            starts.append(now)
            recent = [t for t in starts if now - t <= FLAP[1]]
            if len(recent) > FLAP[0]:
                found.what = (f"restarted {len(recent)} times in "
                              f"{int(FLAP[1] // 60)} minutes (a crash loop)")
                self.pending.append(found)
                return
        told = self.down.pop(found.container_id, None)
        if told is not None:
            found.what = "runs again"
            self.recovered.append(found)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(WINDOW)
            await self.flush()

    async def flush(self) -> None:
        """Tell what the last window brought, grouped."""
        now = self.clock()
        ready = [f for f in self.pending if now - self.told_at.get(f.stack, -QUIET) >= QUIET]
        self.pending = [f for f in self.pending if f not in ready]
        recovered, self.recovered = self.recovered, []
        by_stack: dict[str, list[Finding]] = {}
        for f in ready:
            by_stack.setdefault(f.stack, []).append(f)
            self.down[f.container_id] = f
        where = f"host {self.host}" if self.host else "this host"
        if len(by_stack) >= MANY_STACKS:
            lines = [f"{f.stack}: {f.line()}" for f in ready]
            self.announce(containers_message(f"{where}, {len(by_stack)} stacks at once",
                                             lines, []), "containers")
        else:
            for stack, items in sorted(by_stack.items()):
                logs = await self._logs(items[0])
                self.announce(containers_message(f"stack {stack} on {where}",
                                                 [f.line() for f in items], logs),
                              "containers")
        for stack in by_stack:
            self.told_at[stack] = now
        back: dict[str, list[Finding]] = {}
        for f in recovered:
            back.setdefault(f.stack, []).append(f)
        for stack, items in sorted(back.items()):
            self.announce(containers_message(f"stack {stack} on {where}",
                                             [f.line() for f in items], [], recovered=True),
                          "containers")

    async def _logs(self, found: Finding) -> list[str]:
        try:
            with on_host(self.host):
                lines = await asyncio.wait_for(self.engine.logs(found.container_id,
                                                                LOG_LINES), 3.0)
        except (ChatopsError, OSError, TimeoutError):
            return []
        return [self.masker.mask(line)[:200] for line in lines[-LOG_LINES:]]


def _time_of(event: dict[str, Any]) -> float | None:
    nano = event.get("timeNano")
    if isinstance(nano, int) and nano > 0:
        return nano / 1e9
    moment = event.get("time")
    return float(moment) if isinstance(moment, int | float) else None
