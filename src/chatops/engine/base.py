"""What chatops needs from a container engine, and nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from msgspec import Struct, field


class OutputLine(Struct, frozen=True):
    ts: datetime
    stream: Literal["stdout", "stderr"]
    text: str


class CommandResult(Struct):
    argv: tuple[str, ...]
    exit_code: int | None  # None: killed, or never started
    duration: float
    timed_out: bool = False
    error: str | None = None  # why it could not run at all
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.duration:.1f}s and was killed"
        last = next((ln for ln in reversed(self.tail) if ln.strip()), "")
        return f"exit code {self.exit_code}" + (f": {last.strip()}" if last else "")


class ContainerState(Struct, frozen=True):
    id: str
    name: str
    service: str
    image_ref: str  # as the container was created from, e.g. registry/app:v1
    image_id: str  # sha256:...
    state: str  # running, exited, restarting, created, dead, paused
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    restart_count: int
    exit_code: int
    started_at: str = ""
    published: tuple[str, ...] = ()  # host ports it publishes, as HOST_IP:PORT

    @property
    def running(self) -> bool:
        return self.state == "running"


OnLine = Callable[[OutputLine], None]


class Engine(Protocol):
    async def run(
        self, argv: Sequence[str], *, timeout: float, on_line: OnLine | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        """Run ``argv`` (never through a shell), killing its process group on timeout;
        ``env`` adds variables to this process's environment for it; ``cwd`` is where it
        runs (default: here)."""

    async def ping(self) -> None:
        """Raise ``EngineUnavailableError`` when the engine cannot be reached."""

    async def containers(self, project: str, services: Sequence[str] | None = None
                         ) -> list[ContainerState]:
        """Containers of a Compose project (optionally only some services), stopped ones too."""

    async def image_id(self, ref: str) -> str | None:
        """The local image ID (sha256:...) a reference points to, or None."""

    async def tag(self, image_id: str, ref: str) -> None:
        """Point ``ref`` at ``image_id``."""

    async def stop(self, container_id: str, timeout: float) -> None:
        """Stop a container (SIGTERM, then SIGKILL after ``timeout``); stopped or gone
        already is fine."""

    async def remove(self, container_id: str) -> None:
        """Remove a container (stopping it first); gone already is fine. Never its
        volumes."""

    async def swarm_services(self, namespace: str) -> list[dict[str, Any]]:
        """The Swarm services of stack ``namespace`` (the Engine API's objects)."""

    async def swarm_tasks(self, service_id: str) -> list[dict[str, Any]]:
        """The tasks of a Swarm service, each with its desired and current state."""

    async def image_digest(self, ref: str) -> str | None:
        """``repo@sha256:…`` for a local image (its registry digest), or None."""

    def events(self, since: float | None) -> AsyncIterator[dict[str, Any]]:
        """The engine's container events from ``since`` (epoch seconds), as the Engine
        API gives them; the iterator ends when the stream does (ask again from the last
        event's time)."""

    async def logs(self, container_id: str, tail: int) -> list[str]:
        """A container's last ``tail`` log lines (both streams), or none."""

    async def registry_digest(self, ref: str) -> str | None:
        """What ``ref`` points to in its registry now (``sha256:…``), asked through the
        engine; None when the registry does not say (``EngineError`` when unreachable)."""

    async def close(self) -> None: ...
