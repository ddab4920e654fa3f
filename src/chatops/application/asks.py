"""What the use cases are asked and what they answer, the same for every surface."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from msgspec import Struct

from chatops.planning.steps import Plan
from chatops.runner.orchestrator import Summary
from chatops.store.records import RunRecord


class RunAsk(Struct, frozen=True):
    """A request to run one intent, as every surface asks it."""

    name: str
    sha: str | None = None
    dry_run: bool = False
    queue: bool = True  # False: refuse instead of waiting for a busy stack
    idempotency_key: str | None = None
    fingerprint: str = ""  # what binds the idempotency key to this request
    rollback: bool = True  # False: no automatic rollback on failure (--no-rollback)
    #: No sha from a person (the dashboard, chat): the deploy branch's head, fetched now
    #: and checked like any commit, where the service deploys merged commits only.
    branch_head: bool = False

    def bound(self) -> str:
        return self.fingerprint or hashlib.sha256(
            f"{self.name}\0{self.sha}\0{self.dry_run}\0{self.queue}".encode()).hexdigest()


class Started(Struct, frozen=True):
    """An accepted run: its record and its plan, or the same again for a retry."""

    record: RunRecord
    plan: dict[str, Any]
    replay: bool = False


class Planned(Struct, frozen=True):
    """A dry run: the plan, nothing changed."""

    intent: str
    plan: Plan
    sha: str | None = None  # the commit it was planned at (read from Git objects)


class Orchestration(Struct):
    """A graph of runs: its order and plans; once started, its parent run and the task
    that ends with its summary."""

    order: list[str]
    plans: dict[str, Plan]
    parent: RunRecord | None = None
    task: asyncio.Task[Summary] | None = None

    async def summary(self, timeout: float) -> Summary | None:
        if self.task is None:
            return None
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)


class Push(Struct, frozen=True):
    """A push to deploy, from GitHub's webhook, checked and signed already."""

    ref: str
    before: str
    after: str
    delivery: str
    actor: str
