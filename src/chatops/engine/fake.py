"""A small in-memory engine for unit tests (the real one is used in integration tests).

Like httpx's MockTransport: give it a handler that answers each argv, and set the
containers and images it reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatops.engine.base import CommandResult, ContainerState, OnLine, OutputLine
from chatops.errors import EngineUnavailableError

Handler = Callable[["FakeEngine", tuple[str, ...]], CommandResult | None]


@dataclass
class FakeEngine:
    handler: Handler | None = None
    containers_by_project: dict[str, list[ContainerState]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    available: bool = True
    calls: list[tuple[str, ...]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    services_by_stack: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tasks_by_service: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)  # ref -> digest in its registry
    event_feed: list[dict[str, Any]] = field(default_factory=list)
    log_lines: dict[str, list[str]] = field(default_factory=dict)

    async def run(
        self, argv: Sequence[str], *, timeout: float, on_line: OnLine | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        self.envs.append(dict(env or {}))
        result = self.handler(self, args) if self.handler else None
        result = result or CommandResult(args, 0, 0.0)
        if on_line is not None:
            for text in result.tail:
                on_line(OutputLine(datetime.now(UTC), "stdout", text))
        return result

    async def ping(self) -> None:
        if not self.available:
            raise EngineUnavailableError("the fake engine is switched off")

    async def containers(self, project: str, services: Sequence[str] | None = None
                         ) -> list[ContainerState]:
        await self.ping()
        found = self.containers_by_project.get(project, [])
        return [c for c in found if not services or c.service in services]

    async def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)

    async def tag(self, image_id: str, ref: str) -> None:
        self.tags.append((image_id, ref))
        self.images[ref] = image_id

    async def stop(self, container_id: str, timeout: float) -> None:
        self.stopped.append(container_id)

    async def remove(self, container_id: str) -> None:
        self.stopped.append(container_id)

    async def swarm_services(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.services_by_stack.get(namespace, []))

    async def swarm_tasks(self, service_id: str) -> list[dict[str, Any]]:
        return list(self.tasks_by_service.get(service_id, []))

    async def image_digest(self, ref: str) -> str | None:
        return self.digests.get(ref)

    async def events(self, since: float | None) -> AsyncIterator[dict[str, Any]]:
        while self.event_feed:
            yield self.event_feed.pop(0)

    async def logs(self, container_id: str, tail: int) -> list[str]:
        return list(self.log_lines.get(container_id, []))[-tail:]

    async def registry_digest(self, ref: str) -> str | None:
        return self.registry.get(ref)

    async def close(self) -> None:
        return None
