"""The Docker Engine API (also served by Podman) over its socket, for fast inspection.

One HTTP request per question instead of one ``docker inspect`` process: listing a
project's containers costs about a millisecond.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import ssl
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from chatops.engine.base import ContainerState
from chatops.errors import EngineError, EngineUnavailableError
from chatops.unixhttp import UnixHTTPConnection

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


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class DockerAPI:
    """Engine API calls (stdlib http.client in a worker thread: cheap to import, and a
    Unix-socket request takes well under a millisecond)."""

    def __init__(self, host: str | None = None, *, tls: ssl.SSLContext | None = None
                 ) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.tls = tls
        parts = urlsplit(self.host)
        self._unix = parts.scheme == "unix"
        self._where = parts.path if self._unix else parts.netloc
        if parts.scheme not in ("unix", "tcp", "http"):
            raise EngineUnavailableError(
                f"DOCKER_HOST={self.host!r}: only unix:// and tcp:// engines are supported"
            )

    async def close(self) -> None:
        return None

    def _connect(self) -> http.client.HTTPConnection:
        if self._unix:
            return UnixHTTPConnection(self._where, API_TIMEOUT)
        if self.tls is not None:
            return http.client.HTTPSConnection(self._where, timeout=API_TIMEOUT,
                                               context=self.tls)
        return http.client.HTTPConnection(self._where, timeout=API_TIMEOUT)

    def _blocking(self, method: str, path: str) -> _Response:
        conn = self._connect()
        try:
            conn.request(method, path, headers={"Host": "docker"})
            resp = conn.getresponse()
            return _Response(resp.status, resp.read())
        finally:
            conn.close()

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None
                       ) -> _Response:
        target = path + ("?" + urlencode(params) if params else "")
        try:
            return await asyncio.to_thread(self._blocking, method, target)
        except (ConnectionRefusedError, FileNotFoundError, PermissionError) as exc:
            raise EngineUnavailableError(
                f"the container engine does not answer at {self.host} ({exc}); "
                "is the Docker daemon running?"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(f"container engine request {method} {path} failed: {exc}"
                              ) from None

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
        rows: list[tuple[str, str]] = []
        for row in resp.json():
            labels = row.get("Labels") or {}
            service = labels.get("com.docker.compose.service", "")
            if labels.get("com.docker.compose.oneoff") == "True":
                continue
            if wanted is not None and service not in wanted:
                continue
            rows.append((str(row["Id"]), service))
        details = await asyncio.gather(
            *(self._request("GET", f"/containers/{quote(cid)}/json") for cid, _ in rows))
        found: list[ContainerState] = []
        for (cid, service), detail in zip(rows, details, strict=True):
            if detail.status_code == 404:  # removed between list and inspect
                continue
            if detail.status_code != 200:
                raise EngineError(f"inspecting {cid[:12]} failed: {detail.status_code}")
            found.append(_state(detail.json(), service))
        found.sort(key=lambda c: (c.service, c.name))
        return found

    async def _image(self, ref: str) -> dict[str, Any] | None:
        """The engine's record of image ``ref``; None when it has none."""
        resp = await self._request("GET", f"/images/{quote(ref, safe='/:@')}/json")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise EngineError(f"inspecting image {ref} failed: {resp.status_code}")
        found: dict[str, Any] = resp.json()
        return found

    async def image_id(self, ref: str) -> str | None:
        image = await self._image(ref)
        return None if image is None else str(image["Id"])

    async def stop(self, container_id: str, timeout: float) -> None:
        resp = await self._request("POST", f"/containers/{quote(container_id)}/stop",
                                   params={"t": str(max(0, round(timeout)))})
        if resp.status_code not in (204, 304, 404):  # 304: stopped already; 404: gone
            raise EngineError(f"stopping {container_id[:12]} failed: {resp.status_code} "
                              f"{resp.text[:200]}")

    async def remove(self, container_id: str) -> None:
        resp = await self._request("DELETE", f"/containers/{quote(container_id)}",
                                   params={"force": "1"})
        if resp.status_code not in (204, 404):
            raise EngineError(f"removing {container_id[:12]} failed: {resp.status_code} "
                              f"{resp.text[:200]}")

    async def swarm_services(self, namespace: str) -> list[dict[str, Any]]:
        filters = {"label": [f"com.docker.stack.namespace={namespace}"]}
        resp = await self._request("GET", "/services",
                                   params={"filters": json.dumps(filters)})
        if resp.status_code != 200:
            raise EngineError(f"listing the services of stack {namespace} failed: "
                              f"{resp.status_code} {resp.text[:200]}")
        found: list[dict[str, Any]] = resp.json()
        return sorted(found, key=lambda s: str((s.get("Spec") or {}).get("Name", "")))

    async def swarm_tasks(self, service_id: str) -> list[dict[str, Any]]:
        resp = await self._request("GET", "/tasks", params={
            "filters": json.dumps({"service": [service_id]})})
        if resp.status_code != 200:
            raise EngineError(f"listing the tasks of service {service_id[:12]} failed: "
                              f"{resp.status_code} {resp.text[:200]}")
        found: list[dict[str, Any]] = resp.json()
        return found

    async def image_digest(self, ref: str) -> str | None:
        image = await self._image(ref)
        if image is None:
            return None
        repo = ref.rsplit("@", 1)[0]
        repo = split_ref(repo)[0] if "@" not in ref else repo
        for digest in image.get("RepoDigests") or []:
            if str(digest).split("@", 1)[0] == repo:
                return str(digest)
        return None

    def event_stream(self, since: float | None, filters: dict[str, list[str]]
                     ) -> Iterator[dict[str, Any]]:
        """The engine's events from ``since`` (blocking: read it in a thread); ends when
        the engine has said nothing for ``API_TIMEOUT`` seconds (then ask again from
        the last event's time) or goes away (``EngineUnavailableError``)."""
        params = {"filters": json.dumps(filters)}
        if since is not None:
            params["since"] = f"{since:.9f}"
        try:
            conn = self._connect()
            conn.request("GET", "/events?" + urlencode(params), headers={"Host": "docker"})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnavailableError(f"the container engine at {self.host} does not "
                                         f"stream its events ({exc})") from None
        if resp.status != 200:
            conn.close()
            raise EngineError(f"the engine refused its event stream: {resp.status}")
        try:
            for line in resp:
                if line.strip():
                    yield json.loads(line)
        except (TimeoutError, OSError, http.client.HTTPException, ValueError):
            return
        finally:
            conn.close()

    async def logs(self, container_id: str, tail: int) -> list[str]:
        resp = await self._request("GET", f"/containers/{quote(container_id)}/logs",
                                   params={"stdout": "1", "stderr": "1", "tail": str(tail)})
        if resp.status_code != 200:
            return []
        return _demux(resp.content)

    async def registry_digest(self, ref: str) -> str | None:
        resp = await self._request("GET", f"/distribution/{quote(ref, safe='/:@')}/json")
        if resp.status_code in (401, 403, 404):
            return None
        if resp.status_code != 200:
            raise EngineError(f"asking the registry for {ref} failed: {resp.status_code} "
                              f"{resp.text[:200]}")
        digest = (resp.json().get("Descriptor") or {}).get("digest")
        return str(digest) if digest else None

    async def tag(self, image_id: str, ref: str) -> None:
        repo, tag = split_ref(ref)
        resp = await self._request(
            "POST", f"/images/{quote(image_id)}/tag", params={"repo": repo, "tag": tag}
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
        published=tuple(sorted(
            f"{b.get('HostIp') or ''}:{b.get('HostPort')}"
            for bindings in ((data.get("HostConfig") or {}).get("PortBindings") or {}).values()
            for b in bindings or [] if b.get("HostPort"))),
    )


def _demux(data: bytes) -> list[str]:
    """A container's log lines from the engine's stream (8-byte frame headers when the
    container has no TTY, the raw text when it has one)."""
    if len(data) >= 8 and data[0] in (0, 1, 2) and data[1:4] == b"\0\0\0":
        out, i = bytearray(), 0
        while i + 8 <= len(data):
            size = int.from_bytes(data[i + 4:i + 8], "big")
            out += data[i + 8:i + 8 + size]
            i += 8 + size
        data = bytes(out)
    return data.decode("utf-8", "replace").splitlines()
