"""What a plan is made of. Plain frozen data, so a plan can be printed, stored and compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msgspec import Struct

from chatops.health import Check
from chatops.intents.canary import Canary
from chatops.intents.traffic import Traffic

#: Placeholders in rollback argv, filled from the snapshot taken when the run starts.
REPLICAS = "<replicas before the run>"


class Command(Struct, frozen=True):
    """One process to run, as an argv list (never a shell string)."""

    argv: tuple[str, ...]
    description: str
    timeout: float
    mutating: bool


class Gate(Struct, frozen=True):
    """A health check that must pass after the change, within its deadline."""

    kind: str  # a key of chatops.health.REGISTRY
    description: str
    within: float
    check: Check
    implicit: bool = False


class RollbackPlan(Struct, frozen=True):
    """How a failed step is undone: restore the snapshot, then check again."""

    description: str
    commands: tuple[Command, ...]
    retag: str | None = None  # what is re-tagged (through the Engine API) before the commands
    regate: bool = True


class BlueGreenPlan(Struct, frozen=True):
    """How a blue-green step reaches, gates, switches and drains its two slots."""

    traffic: Traffic
    projects: dict[str, str]  # slot -> Compose project
    switch: str  # how the driver switches, for people
    phases: tuple[str, ...]  # what happens after the commands, in order, for people


class StepPlan(Struct, frozen=True):
    """One document of an intent, planned."""

    index: int
    count: int
    action: str
    stack: str
    service: str | None
    compose: Path
    label_required: str
    snapshot: bool
    commands: tuple[Command, ...]
    gates: tuple[Gate, ...]
    rollback: RollbackPlan | None
    timeout: float
    resolve: str | None = None  # what is looked up at run time before the commands
    retag: str | None = None  # what is re-tagged (through the Engine API) before the commands
    replicas: int | None = None  # action scale
    blue_green: BlueGreenPlan | None = None  # strategy blue-green
    hooks: tuple[tuple[str, Command], ...] = ()  # (pre_deploy|post_deploy|on_failure, cmd)
    rollback_on_hook_failure: bool = False
    workdir: Path | None = None  # where hooks run: the GitOps repository
    canary: Canary | None = None  # strategy canary: its steps and analysis limits
    host: str | None = None  # the named host its commands go to (None: this machine)
    swarm: bool = False  # engine swarm: docker stack deploy, read by UpdateStatus
    pins: Path | None = None  # engine swarm: the file of image digests it deploys with
    env: tuple[tuple[str, str], ...] = ()  # the intent's env: for its commands and hooks
    strategy: str = "recreate"  # the intent's strategy (CHATOPS_STRATEGY, the plan)
    runs_as: str = "recreate"  # how the runner runs it: a name in runner.strategies

    def hooks_of(self, kind: str) -> tuple[Command, ...]:
        return tuple(cmd for k, cmd in self.hooks if k == kind)

    @property
    def mutating(self) -> bool:
        return any(c.mutating for c in self.commands)


class Plan(Struct, frozen=True):
    intent: str
    description: str
    depends_on: tuple[str, ...]
    steps: tuple[StepPlan, ...]
    notify: tuple[str, ...] = ()
    notify_on: tuple[str, ...] = ()
    approval: dict[str, Any] | None = None  # who must approve a run before it starts
    #: The repository files the intent uses (its file, compose files and what they name,
    #: hook programs): a change to any of them deploys it, and needs its label.
    uses: tuple[str, ...] = ()
    #: (file, what it holds) of those that hold secrets: SOPS values and secret://
    #: references, by name (never a value).
    secrets: tuple[tuple[str, str], ...] = ()
