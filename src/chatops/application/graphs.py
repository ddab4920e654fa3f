"""A graph of intents (``depends_on``): checked as one, run in order, summarised under
one parent run."""

from __future__ import annotations

import asyncio

from chatops.application.approving import approval
from chatops.application.asks import Orchestration
from chatops.application.caller import Caller
from chatops.application.context import checked_name
from chatops.application.decisions import RunDecision, check_scope, window
from chatops.application.runs import Runs
from chatops.errors import CommitRequiredError, StackBusyError
from chatops.intents.graph import topological_order
from chatops.intents.loader import IntentFile
from chatops.planning.steps import Plan
from chatops.runner.executor import RunOutcome
from chatops.runner.orchestrator import Summary, closure, orchestrate
from chatops.store.records import RunStatus


class Graphs(Runs):
    async def orchestrate(self, caller: Caller, names: list[str], *, dry_run: bool,
                          stop_on_failure: bool, rollback: bool = True,
                          queue: bool = True) -> Orchestration:
        """Intents and what they depend on, as one graph, started (or only planned)."""
        async with self._audited(caller):
            for name in names:
                checked_name(name, field="intents")
            if self.ctx.rules.commit_required or self.ctx.forge is not None:
                raise CommitRequiredError("orchestrated runs name no commit; with the forge "
                                          "enforcing approvals, deploy through POST /run or the "
                                          "webhook")
            intents = closure(names, self.ctx.load)
            for intent in intents.values():
                check_scope(caller, intent)
                await approval(self.ctx, intent, "", caller)
            order = topological_order({n: i.depends_on for n, i in intents.items()})
            plans = {n: self.ctx.plan(intents[n], rollback=rollback) for n in order}
            if dry_run:
                return Orchestration(order, plans)
            override = window(self.ctx, caller)
            if not queue:
                busy = self.ctx.queue.busy(sorted({st.stack for p in plans.values()
                                                   for st in p.steps}))
                if busy:
                    raise StackBusyError(busy)
            self.ctx.queue.ensure_accepting()
            parent = self.store.create_run(
                intent="orchestrate:" + ",".join(names), trigger=caller.via,
                actor=caller.name, client=caller.client,
                stacks=sorted({st.stack for p in plans.values() for st in p.steps}),
                plan={"orchestrate": order})
            self._record(caller, "accepted", 200, run_id=parent.id,
                         reason=", ".join(order) + (f"; {override}" if override else ""))
            self.audit_written()
        task = self.spawn(self._run_graph(caller, parent.id, intents, plans,
                                           stop_on_failure))
        return Orchestration(order, plans, parent, task)

    async def _run_graph(self, caller: Caller, parent_id: str,
                         intents: dict[str, IntentFile], plans: dict[str, Plan],
                         stop_on_failure: bool) -> Summary:
        store, queue = self.store, self.ctx.queue
        liveness = self.ctx.runtime.locks.hold_run(parent_id)
        store.mark_running(parent_id)

        async def start(name: str) -> RunOutcome:
            run_id = await self._enqueue(caller, RunDecision(intent=intents[name], sha=None),
                                         plans[name], parent_id=parent_id)
            record = await self.ended(run_id)
            if not record.status.final:
                return RunOutcome(run_id, RunStatus.interrupted, "did not end in time")
            return RunOutcome(run_id, record.status, record.reason)

        try:
            summary = await orchestrate(intents, start, max_parallel=queue.max_parallel,
                                        stop_on_failure=stop_on_failure)
        except asyncio.CancelledError:
            store.finish_run(parent_id, RunStatus.interrupted,
                             "the service stopped during the orchestration")
            liveness.release()
            raise
        store.finish_run(parent_id, summary.status(), summary.text())
        liveness.release()
        return summary
