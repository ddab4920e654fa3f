"""The use cases run in this process: ``chatops run`` and ``rollback`` when no service
answers on its socket (or with ``--local``). The same ``Deploys`` as the service, with
the same checks, audit records and notifications; the CLI only adds its progress view,
its signals and its exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from msgspec import Struct

from chatops import events as ev
from chatops.application.caller import Caller, Operator
from chatops.application.context import Rules
from chatops.application.deploys import Deploys, Orchestration, Planned, RunAsk, Started
from chatops.application.wiring import Notifications, build_deploys
from chatops.cli.client import EXIT_REFUSED
from chatops.engine.base import Engine
from chatops.errors import ChatopsError, IntentError, OutsideWindowError
from chatops.gitops.forges import forge_of
from chatops.notify.approvals import Announcer
from chatops.repo import GitOpsRepo
from chatops.runtime import Runtime
from chatops.settings import Settings
from chatops.startup import settled
from chatops.store.audit import AuditLog
from chatops.store.records import RunStatus

NOTIFY_BUDGET = 5.0
FOREVER = 10.0**9


def operator(name: str, override_window: bool, what: str) -> Caller:
    return Caller(via="cli", permissions=Operator(name, override_window), client="local",
                  method="CLI", endpoint=f"chatops {what}", local=True)


def explain(exc: ChatopsError) -> int:
    """Print a refusal as the CLI always has; its exit code."""
    if isinstance(exc, IntentError):
        which = f"intent {exc.intent!r}" if exc.intent else "an intent"
        sys.stderr.write(f"error: {which} is invalid; nothing was run:\n")
        for problem in exc.problems:
            sys.stderr.write(f"  ✗ {problem.render()}\n")
        return EXIT_REFUSED
    hint = "; --override-window deploys anyway" if isinstance(exc, OutsideWindowError) else ""
    sys.stderr.write(f"error: {exc.message}{hint}\n")
    return exc.exit_code


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM cancel the current task, so the run is recorded as interrupted."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class Local(Struct):
    deploys: Deploys
    notifications: Notifications
    engine: Engine
    audit: AuditLog
    runtime: Runtime

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, repo: GitOpsRepo, *, sync: bool,
                   sinks: Sequence[ev.Sink]) -> AsyncIterator[Local]:
        """The use cases over this host's state directory, closed on the way out (after
        one prompt try at the notifications)."""
        rules = Rules.of(settings, sync=sync)
        runtime = Runtime.open(settings)
        audit = AuditLog(settings.paths.audit, runtime.masker)
        notifications = Notifications.open(runtime)
        engine = runtime.engine()
        deploys = build_deploys(
            runtime, repo, engine=engine, audit=audit, rules=rules,
            forge=forge_of(settings),
            notifications=notifications, sinks=sinks, max_parallel=settings.max_parallel,
            announcers=_bots(settings))
        local = cls(deploys, notifications, engine, audit, runtime)
        settled()  # started: what the run makes from now on is collected as usual
        try:
            yield local
        finally:
            # What the run left to say elsewhere (its commit status on the forge), briefly.
            ended = []
            for run_id, task in list(deploys.reporting.items()):
                with contextlib.suppress(ChatopsError):
                    if deploys.store.get_run(run_id, detail=False).status.final:
                        ended.append(task)
            if ended:
                await asyncio.wait(ended, timeout=NOTIFY_BUDGET)
            await local.notifications.deliver(NOTIFY_BUDGET)
            await engine.close()
            with contextlib.suppress(ChatopsError):
                audit.close()
            notifications.close()
            runtime.close()

    async def finish(self, run_id: str) -> RunStatus:
        """Wait for the run; on SIGINT or SIGTERM stop it, recorded as interrupted."""
        queue, store = self.deploys.ctx.queue, self.deploys.store
        try:
            with cancel_on_signals():
                ended = await self.deploys.ended(run_id, timeout=FOREVER)
        except asyncio.CancelledError:
            store.move_status(run_id, RunStatus.awaiting_approval, RunStatus.interrupted,
                              "stopped while it waited for its approvals; nothing changed")
            await queue.shutdown(0)
            sys.stderr.write(f"interrupted: run {run_id} recorded as interrupted\n")
            return RunStatus.interrupted
        return ended.status if ended.status.final else RunStatus.interrupted

    async def run(self, caller: Caller, ask: RunAsk) -> Started | Planned:
        return await self.deploys.run(caller, ask)

    async def orchestrate(self, caller: Caller, names: list[str], *, dry_run: bool,
                          keep_going: bool, rollback: bool, wait: bool) -> Orchestration:
        return await self.deploys.orchestrate(caller, names, dry_run=dry_run,
                                              stop_on_failure=not keep_going,
                                              rollback=rollback, queue=wait)

    async def finish_graph(self, graph: Orchestration) -> Any:
        queue = self.deploys.ctx.queue
        try:
            with cancel_on_signals():
                return await graph.summary(FOREVER)
        except asyncio.CancelledError:
            await queue.shutdown(0)
            for task in list(self.deploys.background):
                task.cancel()
            await asyncio.gather(*self.deploys.background, return_exceptions=True)
            sys.stderr.write("interrupted: the runs were recorded as interrupted\n")
            return None


def _bots(settings: Settings) -> list[Announcer]:
    """The approval bots, read only where one is configured (they bring the web stack)."""
    if not settings.approval_bots:
        return []
    from chatops.chat.platforms import announcers

    return announcers(settings)
