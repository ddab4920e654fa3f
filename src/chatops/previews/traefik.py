"""Previews behind Traefik: one file per preview in the file provider's directory
(``CHATOPS_TRAEFIK_DIR``), a router on the entry point at ``CHATOPS_PREVIEW_LISTEN``
whose rule is the preview's ``Host`` names, to a service on its loopback port. Traefik
applies a file after its throttle, so each change is confirmed through its API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from chatops.errors import ConfigError, TrafficError
from chatops.previews.routes import RouterKind, backend, listen_of, register
from chatops.settings import Settings
from chatops.tls import async_client
from chatops.traffic.haproxy import write_atomically
from chatops.traffic.traefik import CONFIRM, POLL, TIMEOUT, api_get, entry_point_at


def render(name: str, entry_point: str, hosts: tuple[str, ...], port: int) -> str:
    rule = " || ".join(f"Host(`{h}`)" for h in hosts)
    return "\n".join([
        "# Written by chatops for a preview; removed with it.",
        "http:",
        "  routers:",
        f"    {name}:",
        f"      entryPoints: [{json.dumps(entry_point)}]",
        f"      rule: {json.dumps(rule)}",
        f"      service: {name}",
        "  services:",
        f"    {name}:",
        "      loadBalancer:",
        "        servers:",
        f"          - url: {json.dumps(f'http://127.0.0.1:{port}')}",
    ]) + "\n"


class TraefikRoutes:
    name = "traefik"

    def __init__(self, directory: Path, api: str, listen: str) -> None:
        self.directory = directory
        self.api = api.rstrip("/")
        self.listen = listen
        self._http = async_client(timeout=TIMEOUT)

    def configuration(self) -> list[tuple[str, str]]:
        return []

    async def _entry_point(self) -> str:
        return await entry_point_at(self._http, self.api, self.listen,
                                    "CHATOPS_PREVIEW_LISTEN")

    async def check(self) -> None:
        await self._entry_point()

    async def _rule(self, name: str) -> str | None:
        data: Any = await api_get(self._http, self.api, f"/api/http/routers/{name}@file")
        return str(data.get("rule")) if isinstance(data, dict) else None

    async def _confirm(self, name: str, rule: str | None) -> None:
        deadline = time.monotonic() + CONFIRM
        while await self._rule(name) != rule:
            if time.monotonic() > deadline:
                raise TrafficError(f"Traefik did not take up the preview's route {name} "
                                   f"within {CONFIRM:g}s (is {self.directory} its watched "
                                   "directory?)")
            await asyncio.sleep(POLL * 4)

    async def add(self, hosts: tuple[str, ...], port: int) -> None:
        name = backend(port)
        text = render(name, await self._entry_point(), hosts, port)
        write_atomically(self.directory / f"{name}.yml", text)
        await self._confirm(name, " || ".join(f"Host(`{h}`)" for h in hosts))

    async def remove(self, hosts: tuple[str, ...], port: int) -> None:
        name = backend(port)
        try:
            (self.directory / f"{name}.yml").unlink(missing_ok=True)
        except OSError as exc:
            raise TrafficError(f"cannot remove {self.directory / name}.yml: "
                               f"{exc.strerror}") from None
        await self._confirm(name, None)

    async def close(self) -> None:
        await self._http.aclose()


def _build(settings: Settings) -> TraefikRoutes:
    if settings.traefik_dir is None or settings.traefik_api is None:
        raise ConfigError("previews behind Traefik need CHATOPS_TRAEFIK_DIR and "
                          "CHATOPS_TRAEFIK_API", field="CHATOPS_TRAEFIK_DIR")
    return TraefikRoutes(settings.traefik_dir, settings.traefik_api, listen_of(settings))


KIND = register(RouterKind(
    "traefik", _build, setup="an entry point on CHATOPS_PREVIEW_LISTEN and a file provider "
    "watching CHATOPS_TRAEFIK_DIR; each preview's route is a file there"))
