"""The real engine: Compose and the docker CLI as processes, inspection through the API."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from chatops.engine.base import CommandResult, ContainerState, OnLine
from chatops.engine.docker_api import DockerAPI
from chatops.engine.environment import child_env
from chatops.engine.plugins import direct
from chatops.engine.process import run_process


class DockerEngine:
    """``host``: the engine's address (default ``DOCKER_HOST``); ``env``: what every
    command for it needs (a named host's ``DOCKER_HOST`` and vars); ``tls``: the client
    certificates of a ``tcp://`` engine."""

    def __init__(self, host: str | None = None, *, env: Mapping[str, str] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.api = DockerAPI(host, tls=tls)
        self.env = dict(env or {})

    async def run(
        self, argv: Sequence[str], *, timeout: float, on_line: OnLine | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        merged = {**self.env, **(env or {})}
        done = await run_process(direct(argv, child_env(merged)), timeout=timeout,
                                 on_line=on_line, env=merged, cwd=cwd)
        done.argv = tuple(argv)  # the command as planned, recorded and shown
        return done

    async def ping(self) -> None:
        await self.api.ping()

    async def containers(self, project: str, services: Sequence[str] | None = None
                         ) -> list[ContainerState]:
        return await self.api.containers(project, services)

    async def image_id(self, ref: str) -> str | None:
        return await self.api.image_id(ref)

    async def tag(self, image_id: str, ref: str) -> None:
        await self.api.tag(image_id, ref)

    async def stop(self, container_id: str, timeout: float) -> None:
        await self.api.stop(container_id, timeout)

    async def remove(self, container_id: str) -> None:
        await self.api.remove(container_id)

    async def swarm_services(self, namespace: str) -> list[dict[str, Any]]:
        return await self.api.swarm_services(namespace)

    async def swarm_tasks(self, service_id: str) -> list[dict[str, Any]]:
        return await self.api.swarm_tasks(service_id)

    async def image_digest(self, ref: str) -> str | None:
        return await self.api.image_digest(ref)

    async def events(self, since: float | None) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()

        def hand(item: dict[str, Any] | BaseException | None) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the reader's loop is gone (the service stopped)
                return False
            return True

        def pump() -> None:
            try:
                for event in self.api.event_stream(since, {"type": ["container"]}):
                    if not hand(event):
                        return
            except Exception as exc:  # handed to the reader, raised there
                hand(exc)
            else:
                hand(None)

        reader = threading.Thread(target=pump, name="chatops-events", daemon=True)
        reader.start()
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def logs(self, container_id: str, tail: int) -> list[str]:
        return await self.api.logs(container_id, tail)

    async def registry_digest(self, ref: str) -> str | None:
        return await self.api.registry_digest(ref)

    async def close(self) -> None:
        await self.api.close()
