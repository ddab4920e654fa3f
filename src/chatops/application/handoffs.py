"""Finishing a self-upgrade's run in the chatops that comes up (``strategy: self-upgrade``).

Every service runs ``handoff_loop``. For each open handoff in its state directory:
- when the helper has recreated the service into this very container, this chatops runs
  the intent's own gates from where it stands (its ``/healthz`` on its own address, say)
  and reports ``healthy`` or ``unhealthy``; the helper decides from that;
- once the helper has written its verdict (upgraded, rolled back, rollback failed), this
  chatops closes the run as any run is closed: its status and reason in the history, and
  the run's end on the event stream, so it is announced in chat;
- a handoff whose helper fell silent (the host rebooted mid-upgrade) is closed as failed
  once its deadline is well past.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from chatops import events as ev
from chatops.clock import Clock
from chatops.engine.base import Engine
from chatops.health import HealthCheck, kind_of
from chatops.health.registry import GateContext
from chatops.runner.executor import Executor
from chatops.runner.handoff import own_container_id
from chatops.store.database import utcnow
from chatops.store.handoffs import Handoff
from chatops.store.records import RunStatus

POLL = 0.25
#: How long past its deadline a handoff without a verdict is given before it is closed.
SILENT = 120.0
ENDED = {"upgraded": RunStatus.succeeded, "rolled_back": RunStatus.rolled_back,
         "rollback_failed": RunStatus.rollback_failed}


class Handoffs:
    def __init__(self, executor: Executor, engine: Engine, clock: Clock,
                 own: str | None) -> None:
        self.executor, self.engine, self.clock, self.own = executor, engine, clock, own
        self.store = executor.store

    async def once(self) -> int:
        """One look at every open handoff; how many remain open."""
        still = 0
        for h in self.store.open_handoffs():
            if h.state == "recreated" and h.container == self.own:
                await self.judge(h)
            elif h.state in ENDED:
                self.finish(h, ENDED[h.state], h.reason)
                continue
            elif h.state in ("handing_off", "recreated") and time.time() > h.deadline + SILENT:
                self.finish(h, RunStatus.failed, "the upgrade's helper stopped before its "
                            "verdict; check which image chatops's service runs")
                continue
            still += 1
        return still

    async def judge(self, h: Handoff) -> None:
        """The intent's gates, run by the new chatops on itself."""
        adapter: TypeAdapter[Any] = TypeAdapter(HealthCheck)
        problems = []
        for gate in h.gates:
            check = adapter.validate_python(gate)
            kind = kind_of(check)
            ctx = GateContext(clock=self.clock, engine=self.engine,
                              description=kind.describe(check), since=datetime.now(UTC),
                              project=h.project, services=[h.service])
            result = await kind.run(check, ctx)
            self.store.add_line(h.run_id, utcnow(), "chatops", f"the new chatops: "
                                f"{result.description}: {result.detail}")
            if not result.ok:
                problems.append(f"{result.description}: {result.detail}")
        if problems:
            self.store.move_handoff(h.run_id, ("recreated",), "unhealthy",
                                    reason="; ".join(problems))
        else:
            self.store.move_handoff(h.run_id, ("recreated",), "healthy")

    def finish(self, h: Handoff, status: RunStatus, reason: str) -> None:
        """Close the run, once (whichever chatops moves the handoff first does it)."""
        if not self.store.move_handoff(h.run_id, (h.state,), "finished"):
            return
        who = f"container {self.own[:12]}" if self.own else "this chatops"
        self.store.add_line(h.run_id, utcnow(), "chatops",
                            f"the chatops in {who} finishes this run: {status}")
        self.store.finish_run(h.run_id, status, reason)
        self.executor.emit(h.run_id, h.intent, ev.RUN_FINISHED, status=str(status),
                           reason=reason, refused=False)


async def handoff_loop(executor: Executor, engine: Engine, clock: Clock,
                       own: str | None = None) -> None:
    """Watch this state directory's handoffs for as long as the service runs."""
    handoffs = Handoffs(executor, engine, clock, own or own_container_id())
    while True:
        open_now = await handoffs.once()
        await asyncio.sleep(POLL if open_now else 4 * POLL)
