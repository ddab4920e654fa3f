"""A rolling deploy across named hosts: ``hosts: [a, b, c]`` with ``parallel: N``.

One parent run, and one child run per host (the intent planned for that host: its own
locks, snapshots, gates and rollback, as ``stack@host``). At most ``parallel`` hosts go
at once, in the order given. The first failure stops the roll: hosts not started stay as
they are; the hosts already done are rolled back to their previous images (or kept, with
``keep_done_hosts: true``). The parent's reason is the per-host summary the CLI, the API
and chat show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from msgspec import Struct, field

from chatops.application.caller import Caller
from chatops.application.context import Context
from chatops.application.going_back import rollback_plan
from chatops.application.queue import RunManager
from chatops.errors import ChatopsError
from chatops.planning.steps import Plan, StepPlan
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore

T = TypeVar("T")


class Host(Protocol):
    """What a rolling deploy needs of the use cases (``Deploys``)."""

    ctx: Context

    @property
    def store(self) -> RunStore: ...

    async def ended(self, run_id: str, *, detail: bool = False) -> RunRecord: ...


def combined(intent: str, plans: dict[str, Plan]) -> Plan:
    """One plan showing every host's steps, in order (for the dry run and the record)."""
    first = next(iter(plans.values()))
    return Plan(intent=intent, description=first.description, depends_on=first.depends_on,
                steps=tuple(s for p in plans.values() for s in p.steps),
                notify=first.notify, notify_on=first.notify_on, approval=first.approval)


class Roll(Struct):
    """The outcome of each host, in the order given."""

    hosts: tuple[str, ...]
    runs: dict[str, RunRecord] = field(default_factory=dict)
    back: dict[str, RunRecord] = field(default_factory=dict)  # rollbacks of done hosts
    kept: bool = False

    @property
    def failed(self) -> list[str]:
        """The hosts whose run did not succeed (the first stops the roll)."""
        return [h for h in self.hosts if h in self.runs
                and self.runs[h].status is not RunStatus.succeeded]

    def status(self) -> RunStatus:
        if not self.failed:
            return RunStatus.succeeded
        if any(r.status is not RunStatus.succeeded for r in self.back.values()):
            return RunStatus.rollback_failed
        return RunStatus.failed if self.kept or not self.back else RunStatus.rolled_back

    def text(self) -> str:
        lines = []
        for host in self.hosts:
            run = self.runs.get(host)
            if run is None:
                lines.append(f"{host}: not started")
                continue
            line = f"{host}: {run.status} (run {run.id})"
            if run.status is not RunStatus.succeeded and run.reason:
                line += f": {run.reason[:200]}"
            back = self.back.get(host)
            if back is not None:
                line += f", rolled back: {back.status} (run {back.id})"
            elif self.failed and run.status is RunStatus.succeeded and self.kept:
                line += ", kept (keep_done_hosts)"
            lines.append(line)
        head = (f"rolled out to {len(self.hosts)} host(s)" if not self.failed else
                f"stopped at {', '.join(self.failed)}")
        return " | ".join([head, *lines])


async def roll(owner: Host, caller: Caller, *, parent_id: str, plans: dict[str, Plan],
               parallel: int, keep: bool, sha: str | None) -> Roll:
    """Each host in turn (``parallel`` at once), stopping at the first failure; then the
    done hosts rolled back unless ``keep``; the parent run finished with the summary."""
    store, queue = owner.store, owner.ctx.queue
    result = Roll(tuple(plans), kept=keep)
    gate = asyncio.Semaphore(parallel)
    stop = asyncio.Event()
    liveness = owner.ctx.runtime.locks.hold_run(parent_id)
    store.mark_running(parent_id)

    async def one(host: str) -> None:
        async with gate:
            if stop.is_set():
                return
            run_id = queue.submit(plans[host], trigger=caller.via, actor=caller.name,
                                  client=caller.client, sha=sha, parent_id=parent_id)
            record = await owner.ended(run_id)
            result.runs[host] = record
            if record.status is not RunStatus.succeeded:
                stop.set()

    try:
        await asyncio.gather(*(one(host) for host in plans))
        if result.failed and not keep:
            for host, plan in plans.items():
                done = result.runs.get(host)
                if done is None or done.status is not RunStatus.succeeded:
                    continue
                result.back[host] = await _roll_back(owner, caller, queue, plan, parent_id)
    except asyncio.CancelledError:
        store.finish_run(parent_id, RunStatus.interrupted,
                         "the service stopped during the rolling deploy; " + result.text())
        liveness.release()
        raise
    store.finish_run(parent_id, result.status(), result.text())
    liveness.release()
    return result


async def _roll_back(owner: Host, caller: Caller, queue: RunManager, plan: Plan,
                     parent_id: str) -> RunRecord:
    """One done host back to the images its previous good deploy left."""
    steps: list[StepPlan] = []
    try:
        for stack in dict.fromkeys(s.stack for s in plan.steps):
            steps += rollback_plan(owner.store, owner.ctx.runtime.settings, stack)[1].steps
    except ChatopsError as exc:
        run = owner.store.create_run(intent=f"rollback-{plan.intent}", trigger=caller.via,
                                     actor=caller.name, client=caller.client,
                                     stacks=sorted({s.stack for s in plan.steps}),
                                     parent_id=parent_id)
        owner.store.finish_run(run.id, RunStatus.failed, exc.message)
        return owner.store.get_run(run.id, detail=False)
    back = Plan(intent=f"rollback-{plan.intent}", description="", depends_on=(),
                steps=tuple(steps))
    run_id = queue.submit(back, trigger=caller.via, actor=caller.name, client=caller.client,
                          sha=None, parent_id=parent_id)
    return await owner.ended(run_id)


def spawn_into(tasks: dict[str, asyncio.Task[T]], run_id: str, work: Awaitable[T]
               ) -> asyncio.Task[T]:
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    tasks[run_id] = task
    task.add_done_callback(lambda _: tasks.pop(run_id, None))
    return task
