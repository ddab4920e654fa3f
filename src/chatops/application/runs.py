"""Running one intent: every check first (``decisions``), then the run queued, held for
its approvers, or rolled across hosts; its end awaited; a schedule's fire."""

from __future__ import annotations

import asyncio
import contextlib
import hmac

from chatops import events as ev
from chatops.application.approvals import Approvals, Vote
from chatops.application.approving import APPROVAL_FALLBACK
from chatops.application.asks import Planned, RunAsk, Started
from chatops.application.caller import Caller
from chatops.application.decisions import (
    FETCH_FALLBACK,
    RunDecision,
    branch_head,
    decide_run,
    moved_checkout,
)
from chatops.application.recording import Recording
from chatops.application.rolling import combined, roll, spawn_into
from chatops.application.statuses import report_status
from chatops.errors import IdempotencyKeyReusedError, RunNotSucceededError, StackBusyError
from chatops.planning.render import plan_to_dict
from chatops.planning.steps import Plan
from chatops.store.database import utcnow
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import new_run_id


class Runs(Recording):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.approvals = Approvals(self, self.announcers)
        #: Commit statuses being told, by run (a command waits for those of the runs
        #: that ended before it exits).
        self.reporting: dict[str, asyncio.Task[None]] = {}

    async def run(self, caller: Caller, ask: RunAsk) -> Started | Planned:
        """Run intent ``ask.name`` (or plan it), with every check first."""
        async with self._audited(caller, ask.name):
            if ask.idempotency_key and not ask.dry_run:
                replay = self._replay(caller, ask)
                if replay is not None:
                    return replay
            decision = await decide_run(self.ctx, caller, ask.name, ask.sha,
                                        dry_run=ask.dry_run, branch_head=ask.branch_head)
            intent = decision.intent
            per_host = {host: self.ctx.plan(intent, rollback=ask.rollback, host=host)
                        for host in intent.hosts}
            plan = (combined(intent.name, per_host) if per_host else
                    self.ctx.plan(intent, rollback=ask.rollback))
            if ask.dry_run:
                self._record(caller, "dry_run", 200, intent=intent.name,
                             reason="; ".join(decision.notes) or None)
                return Planned(intent.name, plan, decision.sha)
            if not ask.queue:
                busy = self.ctx.queue.busy(sorted({st.stack for st in plan.steps}))
                if busy:
                    raise StackBusyError(busy, intent=intent.name)
            if per_host:
                run_id = await self._start_rolling(caller, decision, plan, per_host)
            else:
                run_id = await self._start(caller, decision, plan)
            if ask.idempotency_key:
                self.store.remember_idempotent(caller.name, ask.idempotency_key, run_id,
                                               ask.bound())
            return Started(self.store.get_run(run_id, detail=False), plan_to_dict(plan))

    async def _start_rolling(self, caller: Caller, decision: RunDecision, plan: Plan,
                             per_host: dict[str, Plan]) -> str:
        """A rolling deploy: its parent run recorded, then each host in turn (once
        approved, when the intent asks for approvals: the whole roll is approved once)."""
        self.ctx.queue.ensure_accepting()
        intent = decision.intent
        doc = next(d for d in intent.documents if d.hosts)
        stacks = sorted({st.stack for st in plan.steps})

        def start(run_id: str) -> None:
            spawn_into(self.parents, run_id, roll(
                self, caller, parent_id=run_id, plans=per_host, parallel=doc.parallel,
                keep=doc.keep_done_hosts, sha=decision.sha))

        if intent.approval is not None:
            self.approvals.refusal(decision)
            self._record(caller, "accepted", 202, intent=intent.name,
                         reason="; ".join([*decision.notes, f"awaits "
                                           f"{intent.approval.min} approval(s), then rolls "
                                           f"across {', '.join(per_host)}"]))
            self.audit_written(intent.name)
            return await self.approvals.hold(caller, decision, plan, intent.approval,
                                             stacks=stacks, start=start)
        async with moved_checkout(self.ctx, decision):
            parent = self.store.create_run(
                intent=intent.name, trigger=caller.via, actor=caller.name,
                client=caller.client, stacks=stacks, sha=decision.sha,
                plan=plan_to_dict(plan))
            self._record(caller, "accepted", 200, intent=intent.name, run_id=parent.id,
                         reason="; ".join([*decision.notes, f"rolling across "
                                           f"{', '.join(per_host)}, {doc.parallel} at once"]))
            self.audit_written(intent.name)
        if decision.pr is not None:
            self.store.set_pull_request(parent.id, decision.pr.as_dict())
        self.stream(ev.Event(ev.RUN_QUEUED, parent.id, intent.name, {
            "stacks": parent.stacks, "via": caller.via, "actor": caller.name}))
        start(parent.id)
        return parent.id

    async def _start(self, caller: Caller, decision: RunDecision, plan: Plan,
                     parent_id: str | None = None) -> str:
        """Move the checkout if the run needs it, record the decision, queue the run;
        or, when the intent needs approval, record it as waiting for its approvers."""
        self.ctx.queue.ensure_accepting()
        policy = decision.intent.approval
        if policy is not None:
            self.approvals.refusal(decision)
            self._record(caller, "accepted", 202, intent=decision.intent.name,
                         reason="; ".join([*decision.notes, f"awaits {policy.min} "
                                           "approval(s)"]))
            self.audit_written(decision.intent.name)
            held = await self.approvals.hold(caller, decision, plan, policy,
                                             parent_id=parent_id)
            self._report(held, decision)
            return held
        async with moved_checkout(self.ctx, decision):
            run_id = new_run_id()
            self._record(caller, "accepted", 200, intent=decision.intent.name, run_id=run_id,
                         reason="; ".join(decision.notes) or None)
            # Written before the run starts: a run the audit trail cannot show does not
            # happen (alike refusals are counted into one record, so the batch is small).
            self.audit_written(decision.intent.name)
            self.ctx.queue.submit(plan, trigger=caller.via, actor=caller.name,
                                  client=caller.client, sha=decision.sha, run_id=run_id,
                                  parent_id=parent_id)
            self.stream(ev.Event(ev.RUN_QUEUED, run_id, decision.intent.name, {
                "stacks": decision.stacks, "via": caller.via, "actor": caller.name}))
        if decision.pr is not None:
            self.store.set_pull_request(run_id, decision.pr.as_dict())
        if decision.rollback_of is not None:
            self.store.set_rollback_of(run_id, decision.rollback_of)
        for note in decision.notes:  # in the run's own record too (a remote not fetched)
            if note.endswith((FETCH_FALLBACK, APPROVAL_FALLBACK)):
                self.store.add_line(run_id, utcnow(), "chatops", note)
        self._report(run_id, decision)
        return run_id

    def _report(self, run_id: str, decision: RunDecision) -> None:
        """The run's commit status on the forge, pending now, its outcome at its end."""
        if self.ctx.forge is not None and decision.sha is not None:
            task = self.spawn(report_status(self.ctx.forge, self.store, self.ended, run_id,
                                            intent=decision.intent.name, sha=decision.sha,
                                            public_url=self.ctx.runtime.settings.public_url))
            self.reporting[run_id] = task
            task.add_done_callback(lambda _: self.reporting.pop(run_id, None))

    def _replay(self, caller: Caller, ask: RunAsk) -> Started | None:
        assert ask.idempotency_key is not None  # noqa: S101 - checked by the caller
        previous = self.store.idempotent_run(caller.name, ask.idempotency_key)
        if previous is None:
            return None
        run_id, seen = previous
        if seen is not None and not hmac.compare_digest(seen, ask.bound()):
            raise IdempotencyKeyReusedError(
                f"this Idempotency-Key was used for another request (run {run_id}); send "
                "a new key for a new request", field="Idempotency-Key", intent=ask.name)
        record = self.store.get_run(run_id, detail=False)
        self._record(caller, "replayed", 200, intent=record.intent, run_id=run_id)
        return Started(record, self.store.plan_of(run_id) or {}, replay=True)

    async def _enqueue(self, caller: Caller, decision: RunDecision, plan: Plan, *,
                       actor: str | None = None, parent_id: str | None = None) -> str:
        """Queue one run of a larger whole (a push, a graph), or hold it for its
        approvals when its intent needs them."""
        policy = decision.intent.approval
        if policy is not None:
            self.approvals.refusal(decision)
            held = await self.approvals.hold(caller, decision, plan, policy, actor=actor,
                                             parent_id=parent_id)
            self._report(held, decision)
            return held
        run_id = self.ctx.queue.submit(plan, trigger=caller.via, actor=actor or caller.name,
                                       client=caller.client, sha=decision.sha,
                                       parent_id=parent_id)
        if decision.pr is not None:
            self.store.set_pull_request(run_id, decision.pr.as_dict())
        self._report(run_id, decision)
        return run_id

    async def ended(self, run_id: str, *, detail: bool = False,
                    timeout: float | None = None) -> RunRecord:
        """The run's record once it ends, however it ended (a run that waits for its
        approvals ends when it is denied, expires, or runs to its end; a rolling deploy
        once its hosts did), or as it is after ``timeout`` (default: the rules')."""
        wait = self.ctx.rules.wait_timeout if timeout is None else timeout
        await self.approvals.held(run_id, wait)
        parent = self.parents.get(run_id)
        if parent is not None:  # a rolling deploy: its hosts, then its summary
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(parent), wait)
        await self.ctx.queue.wait(run_id, wait)
        return self.store.get_run(run_id, detail=detail)

    async def wait(self, run_id: str) -> RunRecord:
        """The run's record once it ends; ``RunNotSucceededError`` unless it succeeded."""
        record = await self.ended(run_id, detail=True)
        if record.status is not RunStatus.succeeded:
            error = RunNotSucceededError(str(record.status), record.reason or
                                         str(record.status), record.as_dict(),
                                         final=record.status.final)
            error.audited = True  # the run's outcome, recorded with the run
            raise error
        return record

    async def approve(self, caller: Caller, run_id: str, verdict: str,
                      sha: str | None = None) -> Vote:
        """An approver's word on a run that waits for approvals: ``approve`` or
        ``deny``, bound to the run and (when the word names one) its commit."""
        async with self._audited(caller):
            vote = self.approvals.vote(caller, run_id, verdict, sha)
            record = vote.record
            self._record(caller, "accepted", 200, intent=record.intent, run_id=run_id,
                         reason=f"{verdict} run {run_id} at "
                         f"{(record.sha or 'no commit')[:12]}: {vote.tally.text()}"
                         + ("" if vote.counted else " (counted once already)"))
            self.audit_written(record.intent)
            return vote

    async def branch_head(self) -> str | None:
        """The deploy branch's head, fetched now: what a deploy without a sha deploys
        where merged commits are required (None outside a Git checkout)."""
        return await branch_head(self.ctx)

    async def fire(self, caller: Caller, name: str) -> str:
        """Start a scheduled run of ``name``: the deploy branch's head, through every check
        of a run (``RUN_CHECKS``: its approval, the deploy window...), as a person's run
        without a commit is."""
        async with self._audited(caller, name):
            decision = await decide_run(self.ctx, caller, name, None, dry_run=False,
                                        branch_head=True)
            return await self._start(caller, decision, self.ctx.plan(decision.intent))
