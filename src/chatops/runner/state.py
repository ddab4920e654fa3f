"""What the executor shares with the strategies it runs (blue-green, canary, replica
canary): one step's state, its failure, and the executor's services as an interface, so
that a strategy depends on this module and never on the executor itself."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from msgspec import Struct, field

from chatops.engine.base import CommandResult, Engine
from chatops.errors import ChatopsError
from chatops.planning.steps import Command, StepPlan
from chatops.runner.project import ComposeProject
from chatops.store.records import RunStatus
from chatops.store.sqlite import RunStore


class StepState(Struct):
    step: StepPlan
    project: ComposeProject | None = None
    services: list[str] = field(default_factory=list)
    before: dict[str, Any] | None = None
    target: dict[str, Any] | None = None  # action rollback: what to return to
    changed: bool = False


class StepFailedError(ChatopsError):
    """A step could not finish; ``changed`` says whether the stack was touched."""

    exit_code = 1


class HandoffSignal(Exception):  # noqa: N818 - not an error: the run goes on elsewhere
    """The run was handed to another chatops (a self-upgrade's helper, then the service
    that comes up): this process leaves it open, neither finished nor interrupted."""


class StepIO(Protocol):
    """The executor's services a strategy uses: the engine, the run history, commands
    with their record, health gates, the recreate path's rollback."""

    engine: Engine
    store: RunStore
    compose_command: tuple[str, ...]
    traffic: Any  # builds a blue-green service's traffic driver

    def emit(self, run_id: str, intent: str, event_kind: str, **data: Any) -> None: ...

    def run_context(self, run_id: str) -> dict[str, str | None]: ...

    def note(self, run_id: str, intent: str, text: str) -> None: ...

    def recorded(self, run_id: str, step: StepPlan, phase: str, description: str,
                 argv: list[str]) -> AbstractAsyncContextManager[None]: ...

    async def command(  # noqa: PLR0917 - mirrors Executor.command
        self, run_id: str, intent: str, step: StepPlan, cmd: Command, phase: str,
        argv: tuple[str, ...], *, quiet: bool = False, collect: list[str] | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult: ...

    async def read_compose(  # noqa: PLR0917 - mirrors Executor.read_compose
        self, run_id: str, intent: str, step: StepPlan, argv: tuple[str, ...],
        content: bytes, description: str, env: Mapping[str, str] | None = None,
    ) -> tuple[list[str] | None, str]: ...

    async def commands(self, run_id: str, intent: str, state: StepState,
                       commands: Any) -> None: ...

    async def prepare(self, run_id: str, intent: str, state: StepState) -> None: ...

    async def gates(self, run_id: str, intent: str, state: StepState, phase: str,
                    expected: dict[str, int] | None = None) -> str | None: ...

    async def after_failure(self, run_id: str, intent: str, state: StepState, reason: str
                            ) -> tuple[RunStatus, str]: ...

    async def save_after(self, run_id: str, state: StepState) -> None: ...

    def save_snapshot(self, run_id: str, step: StepPlan, kind: str,
                      data: dict[str, Any]) -> None: ...

    async def retag_to_last_good(self, run_id: str, intent: str,
                                 state: StepState) -> None: ...
