"""The Docker Engine API (also served by Podman) over its socket, for fast inspection.

One HTTP request per question instead of one ``docker inspect`` process: listing a
project's containers costs about a millisecond.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatops.engine.base import ContainerState
from chatops.errors import EngineError, EngineUnavailableError

DEFAULT_HOST = "unix:///var/run/docker.sock"
API_TIMEOUT = 30.0


def split_ref(ref: str) -> tuple[str, str]:
    """``registry:5000/app:v1`` to (``registry:5000/app``, ``v1``); no tag means latest."""
    if "@" in ref:
        raise EngineError(f"image {ref!r} is pinned by digest and cannot be re-tagged")
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, "latest"


class DockerAPI:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        parts = urlsplit(self.host)
        if parts.scheme == "unix":
            transport = httpx.AsyncHTTPTransport(uds=parts.path)
            base = "http://docker"
        elif parts.scheme in ("tcp", "http"):
            transport = httpx.AsyncHTTPTransport()
            base = f"http://{parts.netloc}"
        else:
            raise EngineUnavailableError(
                f"DOCKER_HOST={self.host!r}: only unix:// and tcp:// engines are supported"
            )
        self._client = httpx.AsyncClient(transport=transport, base_url=base, timeout=API_TIMEOUT)

    async def close(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kw)
        except (httpx.ConnectError, httpx.RemoteProtocolError, FileNotFoundError,
                ConnectionRefusedError) as exc:
            raise EngineUnavailableError(
                f"the container engine does not answer at {self.host} ({exc}); "
                "is the Docker daemon running?"
            ) from None
        except httpx.HTTPError as exc:
            raise EngineError(f"container engine request {method} {path} failed: {exc}") from None

    async def ping(self) -> None:
        resp = await self._request("GET", "/_ping")
        if resp.status_code != 200:
            raise EngineUnavailableError(
                f"the container engine at {self.host} answered {resp.status_code} to a ping"
            )

    async def containers(self, project: str, services: Sequence[str] | None = None
                         ) -> list[ContainerState]:
        filters = {"label": [f"com.docker.compose.project={project}"]}
        resp = await self._request(
            "GET", "/containers/json", params={"all": "1", "filters": json.dumps(filters)}
        )
        if resp.status_code != 200:
            raise EngineError(f"listing containers failed: {resp.status_code} {resp.text[:200]}")
        wanted = set(services) if services else None
        found: list[ContainerState] = []
        for row in resp.json():
            labels = row.get("Labels") or {}
            service = labels.get("com.docker.compose.service", "")
            if labels.get("com.docker.compose.oneoff") == "True":
                continue
            if wanted is not None and service not in wanted:
                continue
            detail = await self._request("GET", f"/containers/{row['Id']}/json")
            if detail.status_code == 404:  # removed between list and inspect
                continue
            if detail.status_code != 200:
                raise EngineError(f"inspecting {row['Id'][:12]} failed: {detail.status_code}")
            found.append(_state(detail.json(), service))
        found.sort(key=lambda c: (c.service, c.name))
        return found

    async def image_id(self, ref: str) -> str | None:
        resp = await self._request("GET", f"/images/{ref}/json")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise EngineError(f"inspecting image {ref} failed: {resp.status_code}")
        return str(resp.json()["Id"])

    async def tag(self, image_id: str, ref: str) -> None:
        repo, tag = split_ref(ref)
        resp = await self._request(
            "POST", f"/images/{image_id}/tag", params={"repo": repo, "tag": tag}
        )
        if resp.status_code not in (200, 201):
            raise EngineError(
                f"tagging {image_id[:19]} as {ref} failed: {resp.status_code} {resp.text[:200]}"
            )


def _state(data: dict[str, Any], service: str) -> ContainerState:
    state = data.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    config = data.get("Config") or {}
    return ContainerState(
        id=str(data.get("Id", "")),
        name=str(data.get("Name", "")).lstrip("/"),
        service=service,
        image_ref=str(config.get("Image", "")),
        image_id=str(data.get("Image", "")),
        state=str(state.get("Status", "unknown")),
        health=str(health) if health else None,
        restart_count=int(data.get("RestartCount") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        started_at=str(state.get("StartedAt", "")),
    )
