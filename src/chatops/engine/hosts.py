"""Engines on named hosts, and the one engine that sends each call to the right one.

The executor marks the host a step goes to (``on_host``); ``RoutedEngine`` then sends
every Engine API call and every Compose or docker command of that step to that host's
engine, and everything else to this machine's.

- An ``ssh://`` host is reached through one SSH connection per host, kept open: it
  forwards a socket in the state directory to the engine's socket there
  (``ssh -N -L LOCAL:REMOTE``). Every Engine API request and every Compose connection
  is one channel of that connection; none opens a session, so Compose's parallel
  connections never meet the server's ``MaxSessions``, and nothing logs in again.
- A ``tcp://`` host is reached with TLS client certificates (``DOCKER_TLS_VERIFY``,
  ``DOCKER_CERT_PATH`` for Compose; the same files for the Engine API).
- A ``unix://`` host is another engine on this machine.

A host that cannot be reached fails the step before anything changes, naming the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chatops.engine.base import CommandResult, ContainerState, Engine, OnLine
from chatops.engine.docker import DockerEngine
from chatops.engine.environment import child_env
from chatops.errors import ChatopsError, HostUnreachableError
from chatops.hosts import HostSpec

ON_HOST: contextvars.ContextVar[str | None] = contextvars.ContextVar("chatops_host",
                                                                       default=None)
TUNNEL_TIMEOUT = 15.0


@contextlib.contextmanager
def on_host(host: str | None) -> Iterator[None]:
    """Every engine call made inside (and in tasks started inside) goes to ``host``."""
    token = ON_HOST.set(host)
    try:
        yield
    finally:
        ON_HOST.reset(token)


class Tunnel:
    """One SSH connection to a host, forwarding a local socket to its engine's."""

    def __init__(self, name: str, spec: HostSpec, folder: Path) -> None:
        self.name, self.spec = name, spec
        parts = urlsplit(spec.url)
        self.target = (f"{parts.username}@" if parts.username else "") + str(parts.hostname)
        self.port = parts.port or 22
        # A short name: a unix socket's path is limited to about 100 bytes.
        key = hashlib.sha256(f"{name}\0{spec.url}\0{spec.socket}".encode()).hexdigest()[:12]
        self.local = folder / f"{key}.sock"
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def argv(self) -> list[str]:
        spec = self.spec
        argv = ["ssh", "-N", "-T", "-p", str(self.port), "-o", "BatchMode=yes",
                "-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                "-o", "ConnectTimeout=10", "-L", f"{self.local}:{spec.socket}"]
        if spec.identity is not None:
            argv += ["-i", str(spec.identity), "-o", "IdentitiesOnly=yes"]
        if spec.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={spec.known_hosts}",
                     "-o", "StrictHostKeyChecking=yes"]
        return [*argv, "--", self.target]

    async def open(self) -> str:
        """The local socket, once the connection forwards it (opened when needed)."""
        async with self._lock:
            if self.proc is not None and self.proc.returncode is None and self.local.exists():
                return str(self.local)
            await self._close()
            self.local.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileNotFoundError):
                self.local.unlink()
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv(), stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True, env=child_env())
            except FileNotFoundError:
                raise HostUnreachableError(f"host {self.name} ({self.spec.url}): ssh is not "
                                           "installed (apt-get install openssh-client)"
                                           ) from None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TUNNEL_TIMEOUT
            while not self.local.exists():
                if self.proc.returncode is not None or loop.time() > deadline:
                    why = await self._stderr()
                    await self._close()
                    raise HostUnreachableError(
                        f"host {self.name} cannot be reached over SSH ({self.spec.url}): "
                        f"{why or 'no forwarded socket within the time limit'}")
                await asyncio.sleep(0.02)
            return str(self.local)

    async def _stderr(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        if self.proc.returncode is None:
            self.proc.terminate()
        with contextlib.suppress(TimeoutError):
            data = await asyncio.wait_for(self.proc.stderr.read(4000), 2)
            lines = [x for x in data.decode("utf-8", "replace").splitlines() if x.strip()]
            return lines[-1] if lines else ""
        return ""

    async def _close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 5)
        with contextlib.suppress(FileNotFoundError):
            self.local.unlink()

    async def close(self) -> None:
        async with self._lock:
            await self._close()


class RoutedEngine:
    """This machine's engine, and each named host's, behind one ``Engine``."""

    def __init__(self, local: Engine, hosts: Mapping[str, HostSpec], folder: Path) -> None:
        self.local = local
        self.hosts = dict(hosts)
        self.folder = folder
        self._engines: dict[str, DockerEngine] = {}
        self._tunnels: dict[str, Tunnel] = {}

    async def pick(self) -> Engine:
        name = ON_HOST.get()
        if name is None:
            return self.local
        spec = self.hosts.get(name)
        if spec is None:  # the planner refuses this first
            raise HostUnreachableError(f"host {name!r} is not defined in CHATOPS_HOSTS")
        if spec.scheme == "ssh":
            tunnel = self._tunnels.get(name)
            if tunnel is None:
                tunnel = self._tunnels[name] = Tunnel(name, spec, self.folder)
            endpoint = f"unix://{await tunnel.open()}"
            engine = self._engines.get(name)
            if engine is None or engine.api.host != endpoint:
                engine = self._engines[name] = DockerEngine(endpoint, env=_env(spec, endpoint))
            return engine
        engine = self._engines.get(name)
        if engine is None:
            engine = self._engines[name] = DockerEngine(
                spec.url, env=_env(spec, spec.url), tls=_tls(spec))
        return engine

    async def reach(self, host: str) -> None:
        """Raise ``HostUnreachableError`` naming ``host`` unless its engine answers."""
        spec = self.hosts[host]
        with on_host(host):
            try:
                engine = await self.pick()
                await engine.ping()
            except HostUnreachableError:
                raise
            except ChatopsError as exc:
                raise HostUnreachableError(f"host {host} cannot be reached ({spec.url}): "
                                           f"{exc.message}") from None

    # -- Engine -----------------------------------------------------------------------

    async def run(self, argv: Sequence[str], *, timeout: float, on_line: OnLine | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None
                  ) -> CommandResult:
        return await (await self.pick()).run(argv, timeout=timeout, on_line=on_line,
                                             env=env, cwd=cwd)

    async def ping(self) -> None:
        await (await self.pick()).ping()

    async def containers(self, project: str, services: Sequence[str] | None = None
                         ) -> list[ContainerState]:
        return await (await self.pick()).containers(project, services)

    async def image_id(self, ref: str) -> str | None:
        return await (await self.pick()).image_id(ref)

    async def tag(self, image_id: str, ref: str) -> None:
        await (await self.pick()).tag(image_id, ref)

    async def stop(self, container_id: str, timeout: float) -> None:
        await (await self.pick()).stop(container_id, timeout)

    async def remove(self, container_id: str) -> None:
        await (await self.pick()).remove(container_id)

    async def swarm_services(self, namespace: str) -> list[dict[str, Any]]:
        return await (await self.pick()).swarm_services(namespace)

    async def swarm_tasks(self, service_id: str) -> list[dict[str, Any]]:
        return await (await self.pick()).swarm_tasks(service_id)

    async def image_digest(self, ref: str) -> str | None:
        return await (await self.pick()).image_digest(ref)

    async def events(self, since: float | None) -> AsyncIterator[dict[str, Any]]:
        async for event in (await self.pick()).events(since):
            yield event

    async def logs(self, container_id: str, tail: int) -> list[str]:
        return await (await self.pick()).logs(container_id, tail)

    async def registry_digest(self, ref: str) -> str | None:
        return await (await self.pick()).registry_digest(ref)

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        for tunnel in self._tunnels.values():
            await tunnel.close()
        await self.local.close()


def _env(spec: HostSpec, endpoint: str) -> dict[str, str]:
    """What Compose and the docker CLI need to reach the host, and its vars."""
    # Empty TLS variables switch off whatever this process has for its own engine.
    return {**spec.vars, "DOCKER_HOST": endpoint,
            "DOCKER_TLS_VERIFY": "1" if spec.tls is not None else "",
            "DOCKER_CERT_PATH": str(spec.tls) if spec.tls is not None else ""}


def _tls(spec: HostSpec) -> ssl.SSLContext | None:
    if spec.tls is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(spec.tls / "ca.pem"))
        context.load_cert_chain(str(spec.tls / "cert.pem"), str(spec.tls / "key.pem"))
    except (OSError, ssl.SSLError) as exc:
        raise HostUnreachableError(f"the TLS files of {spec.url} in {spec.tls} cannot be "
                                   f"read (ca.pem, cert.pem, key.pem): {exc}") from None
    return context


__all__ = ["ON_HOST", "RoutedEngine", "Tunnel", "on_host"]
