"""Runs inside the service: a FIFO queue per stack, a bounded number of stacks at once.

The cross-process stack lock (shared with the CLI) is still taken by the executor; the
in-process queue only keeps this service's own runs in order and cheap to wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from chatops.application.metrics import Counts
from chatops.errors import ShuttingDownError
from chatops.locks import Locks
from chatops.planning.steps import Plan
from chatops.runner.executor import Executor, RunOutcome, RunRequest


class RunManager:
    def __init__(self, executor: Executor, locks: Locks, metrics: Counts,
                 max_parallel: int) -> None:
        self.executor = executor
        self.locks = locks
        self.metrics = metrics
        self.max_parallel = max_parallel
        self._sem = asyncio.Semaphore(max_parallel)
        self._stack_locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[RunOutcome]] = {}
        self._started: set[str] = set()
        self._intents: dict[str, str] = {}
        self.accepting = True

    def busy(self, stacks: Sequence[str]) -> str | None:
        """Why a run on ``stacks`` could not start right now, or None."""
        for stack in stacks:
            lock = self._stack_locks.get(stack)
            if lock is not None and lock.locked():
                return f"stack {stack!r} has a run in progress or queued in this service"
            holder = self.locks.busy(stack)
            if holder:
                return f"stack {stack!r} is busy: {holder}"
        return None

    def ensure_accepting(self) -> None:
        if not self.accepting:
            raise ShuttingDownError("the service is stopping; try again shortly")

    def submit(self, plan: Plan, *, trigger: str, actor: str, client: str,
               sha: str | None, parent_id: str | None = None,
               run_id: str | None = None) -> str:
        self.ensure_accepting()
        request = RunRequest(plan, trigger=trigger, actor=actor, client=client, sha=sha,
                             parent_id=parent_id, run_id=run_id)
        request.run_id = self.executor.create(request)
        stacks = sorted({s.stack for s in plan.steps})
        self.metrics.queued(+1)
        task = asyncio.get_running_loop().create_task(self._run(request, stacks))
        self._tasks[request.run_id] = task
        self._intents[request.run_id] = plan.intent
        run_id = request.run_id

        def forget(_: asyncio.Task[RunOutcome]) -> None:
            self._tasks.pop(run_id, None)
            self._intents.pop(run_id, None)

        task.add_done_callback(forget)
        return request.run_id

    async def _run(self, request: RunRequest, stacks: list[str]) -> RunOutcome:
        assert request.run_id is not None  # noqa: S101 - set by submit
        held: list[asyncio.Lock] = []
        try:
            for stack in stacks:
                lock = self._stack_locks.setdefault(stack, asyncio.Lock())
                await lock.acquire()
                held.append(lock)
            async with self._sem:
                self.metrics.queued(-1)
                self._started.add(request.run_id)
                self.metrics.running(+1)
                try:
                    outcome = await self.executor.execute(request)
                finally:
                    self.metrics.running(-1)
        except asyncio.CancelledError:
            if request.run_id not in self._started:
                self.metrics.queued(-1)
                self.executor.abandon(request.run_id,
                                      "the service stopped before this queued run started")
            raise
        finally:
            for lock in held:
                lock.release()
        if not outcome.status.final:  # handed to the next chatops, which ends it
            return outcome
        record = self.executor.store.get_run(outcome.run_id, detail=False)
        self.metrics.finished(request.plan.intent, str(outcome.status), record.duration)
        return outcome

    async def wait(self, run_id: str, timeout: float) -> RunOutcome | None:
        task = self._tasks.get(run_id)
        if task is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            return None

    def running_intent(self, intent: str) -> bool:
        return intent in self._intents.values()

    async def drained(self) -> None:
        """Once no run is queued or running (those that start meanwhile included)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    @property
    def depth(self) -> int:
        return len(self._tasks)

    async def shutdown(self, grace: float) -> list[str]:
        """Stop accepting; let running deploys finish within ``grace``; stop the rest."""
        self.accepting = False
        pending = list(self._tasks.values())
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
        else:
            still = set()
        stopped = [rid for rid, task in list(self._tasks.items()) if task in still]
        for task in still:
            task.cancel()
        for task in still:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return stopped
