"""The use cases: run an intent, deploy a pushed commit, orchestrate, fire a schedule.

Each one makes every decision first (``decisions``), changes things last, and records its
decision in the audit trail itself, accepted or refused, in the same words whichever
surface asked: a refusal is recorded here and marked ``audited`` so the surface does not
record it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chatops import events as ev
from chatops.application.approvals import Approvals, Vote
from chatops.application.caller import Auditor, Caller
from chatops.application.decisions import (
    Context,
    RunDecision,
    approval,
    branch_head,
    check_scope,
    checked_name,
    decide_run,
    moved_checkout,
    window,
)
from chatops.application.going_back import rollback_plan
from chatops.application.review import (
    Published,
    PullRequestPlan,
    changed_between,
    plan_pull_request,
    publish,
)
from chatops.application.rolling import combined, roll, spawn_into
from chatops.application.stream import EventStream
from chatops.errors import (
    AuditUnavailableError,
    ChatopsError,
    CommitRequiredError,
    ConflictError,
    GitError,
    IdempotencyKeyReusedError,
    NotFoundError,
    ReplayedDeliveryError,
    RunNotSucceededError,
    ScopeDeniedError,
    StackBusyError,
    StoreError,
    TrafficError,
    UnavailableError,
)
from chatops.gitops.affected import affected_intents
from chatops.gitops.commits import CommitView
from chatops.intents.graph import topological_order
from chatops.intents.loader import IntentFile
from chatops.intents.traffic import Traffic
from chatops.notify.approvals import Announcer
from chatops.planning.render import plan_to_dict
from chatops.planning.steps import Plan
from chatops.runner.executor import RunOutcome
from chatops.runner.orchestrator import Summary, closure, orchestrate
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore, new_run_id


@dataclass(frozen=True)
class BlueGreenTarget:
    """A blue-green service as its newest good deploy left it."""

    intent: str
    service: str
    traffic: Traffic
    live: str


def blue_green_target(store: RunStore, stack: str, service: str | None) -> BlueGreenTarget:
    for run_id, snap in store.good_snapshots(stack):
        if snap.get("strategy") != "blue-green" or service not in (None, snap.get("service")):
            continue
        last = store.last_traffic(stack, snap["service"]) or {}
        return BlueGreenTarget(
            intent=store.get_run(run_id, detail=False).intent, service=snap["service"],
            traffic=Traffic.model_validate(snap["traffic"]),
            live=last.get("after") or snap.get("slot") or "blue")
    which = f"service {service!r} of stack {stack!r}" if service else f"stack {stack!r}"
    raise NotFoundError(f"no blue-green deploy of {which} succeeded yet (the run history "
                        "has none); pause and resume act on blue-green services")


T = TypeVar("T")


@dataclass(frozen=True)
class RunAsk:
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


@dataclass(frozen=True)
class Started:
    """An accepted run: its record and its plan, or the same again for a retry."""

    record: RunRecord
    plan: dict[str, Any]
    replay: bool = False


@dataclass(frozen=True)
class Planned:
    """A dry run: the plan, nothing changed."""

    intent: str
    plan: Plan
    sha: str | None = None  # the commit it was planned at (read from Git objects)


@dataclass
class Orchestration:
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


@dataclass(frozen=True)
class Push:
    """A push to deploy, from GitHub's webhook, checked and signed already."""

    ref: str
    before: str
    after: str
    delivery: str
    actor: str


@dataclass
class Deploys:
    ctx: Context
    audit: Auditor
    stream: EventStream = field(default_factory=EventStream)
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    announcers: list[Announcer] = field(default_factory=list)  # bots that ask for approvals
    parents: dict[str, asyncio.Task[Any]] = field(default_factory=dict)  # rolling deploys

    def __post_init__(self) -> None:
        self.approvals = Approvals(self, self.announcers)

    @property
    def store(self) -> RunStore:
        return self.ctx.runtime.store

    # -- recording ----------------------------------------------------------------

    def _record(self, caller: Caller, decision: str, status: int, *,
                intent: str | None = None, reason: str | None = None,
                run_id: str | None = None) -> None:
        self.audit.record(client=caller.client, method=caller.method,
                          endpoint=caller.endpoint, decision=decision, status=status,
                          request_id=caller.request_id, key_name=caller.name,
                          intent=intent, reason=reason, run_id=run_id)

    @contextlib.asynccontextmanager
    async def _audited(self, caller: Caller, intent: str | None = None
                       ) -> AsyncIterator[None]:
        """Record a refusal raised inside, once, with its code and message."""
        try:
            yield
        except ChatopsError as exc:
            if not exc.audited:
                self._record(caller, "refused" if exc.status < 500 else "failed",
                             exc.status, intent=exc.intent or intent,
                             reason=f"{exc.code}: {exc.message}",
                             run_id=getattr(exc, "run", {}).get("id"))
                exc.audited = True
            raise

    def audit_written(self, intent: str | None = None) -> None:
        """Write pending records now; a trail that cannot be written stops everything."""
        try:
            self.audit.flush()
        except StoreError as exc:
            raise AuditUnavailableError(f"the audit trail cannot be written, so nothing "
                                        f"is started: {exc.message}", intent=intent) from None

    # -- one intent ---------------------------------------------------------------

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
            return await self.approvals.hold(caller, decision, plan, policy,
                                             parent_id=parent_id)
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
        return run_id

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

    # -- a graph of intents ---------------------------------------------------------

    async def orchestrate(self, caller: Caller, names: list[str], *, dry_run: bool,
                          stop_on_failure: bool, rollback: bool = True,
                          queue: bool = True) -> Orchestration:
        """Intents and what they depend on, as one graph, started (or only planned)."""
        async with self._audited(caller):
            for name in names:
                checked_name(name, field="intents")
            if self.ctx.rules.commit_required or self.ctx.github is not None:
                raise CommitRequiredError("orchestrated runs name no commit; with GitHub "
                                          "enforcement, deploy through POST /run or the "
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

    async def _enqueue(self, caller: Caller, decision: RunDecision, plan: Plan, *,
                       actor: str | None = None, parent_id: str | None = None) -> str:
        """Queue one run of a larger whole (a push, a graph), or hold it for its
        approvals when its intent needs them."""
        policy = decision.intent.approval
        if policy is not None:
            self.approvals.refusal(decision)
            return await self.approvals.hold(caller, decision, plan, policy, actor=actor,
                                             parent_id=parent_id)
        run_id = self.ctx.queue.submit(plan, trigger=caller.via, actor=actor or caller.name,
                                       client=caller.client, sha=decision.sha,
                                       parent_id=parent_id)
        if decision.pr is not None:
            self.store.set_pull_request(run_id, decision.pr.as_dict())
        return run_id

    def spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    # -- a push to the deploy branch --------------------------------------------------

    def push_seen(self, caller: Caller, push: Push) -> None:
        """Refuse a push that was processed before, whatever its delivery id (GitHub
        does not sign that header)."""
        delivery = self.store.push_seen(push.ref, push.before, push.after)
        if delivery is not None:
            err = ReplayedDeliveryError(
                f"push {push.before[:12]}..{push.after[:12]} to {push.ref} was processed "
                f"before (delivery {delivery}); refused as a replay")
            self._record(caller, "refused", err.status, reason=f"{err.code}: {err.message}")
            err.audited = True
            raise err

    async def deploy_push(self, caller: Caller, push: Push) -> tuple[str, list[str]]:
        """The intents a push affects, each approved, run one after another in
        dependency order once the checkout is at the pushed commit: (commit, names)."""
        async with self._audited(caller):
            self.push_seen(caller, push)
            window(self.ctx, None)
            sync = self.ctx.sync()
            async with self.ctx.checkout_lock:
                view, order = await self._affected(push.before, push.after)
                full, intents = view.sha, view.intents
                if not order:
                    self._claim(push)
                    self._record(caller, "ignored", 202,
                                 reason=f"push {full[:12]} affects no intent")
                    return full, []
                approvals = {name: await approval(self.ctx, intents[name], full)
                             for name in order}
                await asyncio.to_thread(sync.ensure_clean)  # refuse now, not after
                self._claim(push)
            self._record(caller, "accepted", 202,
                         reason=f"push {full[:12]} by {push.actor}: {', '.join(order)}")
            self.audit_written()
        self.spawn(self._run_push(caller, push.actor, view, order, approvals))
        return full, order

    def _claim(self, push: Push) -> None:
        if not self.store.claim_push(push.ref, push.before, push.after, push.delivery):
            raise ReplayedDeliveryError(f"push {push.before[:12]}..{push.after[:12]} to "
                                        f"{push.ref} was processed before; refused as a "
                                        "replay")

    async def _affected(self, before: str, after: str) -> tuple[CommitView, list[str]]:
        """Fetch, then the pushed commit (read once) and the names of the intents the push
        affects, in order; an invalid intent cannot be deployed (CI reports it)."""
        sync = self.ctx.sync()
        await asyncio.to_thread(sync.fetch)
        full = await asyncio.to_thread(sync.resolve, after)
        changed = await asyncio.to_thread(changed_between, sync, before, full)
        view = await asyncio.to_thread(self.ctx.view, full)
        assert view.tree is not None  # noqa: S101 - read_commit gives its tree
        return view, affected_intents(changed, view.intents.values(), self.ctx.repo,
                                      view.tree)

    # -- a pull request: its plan, as one comment -----------------------------------

    async def review(self, caller: Caller, number: int, base: str, head: str,
                     branch: str | None = None) -> tuple[PullRequestPlan, Published]:
        """Plan what merging pull request ``number`` would deploy, and post it as the
        pull request's one chatops comment (updated on each push)."""
        async with self._audited(caller):
            github = self.ctx.github
            if github is None:
                raise UnavailableError("set CHATOPS_GITHUB_REPO and CHATOPS_GITHUB_TOKEN to "
                                       "comment plans on pull requests")
            sync = self.ctx.sync()
            async with self.ctx.checkout_lock:  # one git process at a time here
                await asyncio.to_thread(sync.fetch)
                if not await asyncio.to_thread(sync.has_commit, head):
                    await asyncio.to_thread(sync.fetch_pull, number, branch)
                if not await asyncio.to_thread(sync.has_commit, head):
                    raise GitError(f"commit {head[:12]} of pull request #{number} cannot be "
                                   "fetched", field="head")
                plan = await asyncio.to_thread(
                    lambda: plan_pull_request(sync, self.ctx.repo, self.ctx.plan,
                                              number=number, base=base, head=head))
            published = await publish(github, plan)
            self._record(caller, "accepted", 202, reason=published.text(plan))
            return plan, published

    async def _run_push(self, caller: Caller, actor: str, view: CommitView, order: list[str],
                        approvals: dict[str, Any]) -> None:
        """The push's runs, recorded as its author's (``actor``), planned from the
        intents of the pushed commit as they were read once."""
        sync, full = self.ctx.sync(), view.sha
        # Runs of the previous commit finish first: the checkout never moves under them.
        if await asyncio.to_thread(sync.head) != full:
            await self.ctx.queue.drained()
        async with self.ctx.checkout_lock:
            try:
                await asyncio.to_thread(sync.checkout_to, full)
            except GitError as exc:
                self._record(caller, "failed", exc.status, reason=f"checkout: {exc.message}")
                return
            plans = [(view.intents[name], self.ctx.plan(view.intents[name]))
                     for name in order]
        for intent, plan in plans:
            decision = RunDecision(intent=intent, sha=full, pr=approvals.get(intent.name),
                                   move=True)
            try:
                run_id = await self._enqueue(caller, decision, plan, actor=actor)
            except ChatopsError as exc:
                self._record(caller, "refused", exc.status, intent=intent.name,
                             reason=f"{exc.code}: {exc.message}")
                return
            record = await self.ended(run_id)
            if record.status is not RunStatus.succeeded:
                return  # later intents depend on this one, or come after it

    # -- going back -------------------------------------------------------------------

    async def roll_back(self, caller: Caller, stack: str, service: str | None = None,
                        *, queue: bool = True) -> Started:
        """Return ``stack`` to the images of its previous good deploy (the newest older
        than what runs now), verified by that deploy's health gates."""
        async with self._audited(caller):
            if not caller.may("rollback"):
                raise ScopeDeniedError(f"key {caller.name!r} lacks the 'rollback' scope")
            intent, plan = rollback_plan(self.store, self.ctx.runtime.settings, stack,
                                         service)
            if not queue:
                busy = self.ctx.queue.busy([stack])
                if busy:
                    raise StackBusyError(busy, intent=intent.name)
            run_id = await self._start(caller, RunDecision(intent=intent, sha=None), plan)
            return Started(self.store.get_run(run_id, detail=False), plan_to_dict(plan))

    # -- maintenance (blue-green services) -----------------------------------------

    async def maintenance(self, caller: Caller, stack: str, service: str | None = None,
                          *, paused: bool) -> dict[str, Any]:
        """Pause a blue-green service (the proxy answers every request 503 with the
        intent's message) or resume it on the slot it served from."""
        what = "pause" if paused else "resume"
        async with self._audited(caller):
            target = blue_green_target(self.store, stack, service)
            refusal = caller.permissions.refusal(target.intent, [stack], [what])
            if refusal is not None:
                raise ScopeDeniedError(refusal, intent=target.intent)
            busy = self.ctx.queue.busy([stack])
            if busy:
                raise StackBusyError(busy, intent=target.intent)
            driver = self.ctx.runtime.traffic(stack, target.service, target.traffic)
            try:
                await driver.check()
                if paused:
                    await driver.pause()
                else:
                    await driver.resume(target.live)
                routing = await driver.routing()
            finally:
                await driver.close()
            if paused != routing.paused:
                raise TrafficError(f"the proxy did not confirm the {what} of {stack}/"
                                   f"{target.service} (live: {routing.live or 'none'})")
            done = (f"paused {stack}/{target.service}: every request is answered 503 "
                    f"({target.traffic.driver})" if paused else
                    f"resumed {stack}/{target.service} on slot {target.live}")
            self._record(caller, "accepted", 200, intent=target.intent, reason=done)
            self.audit_written(target.intent)
            return {"stack": stack, "service": target.service, "paused": routing.paused,
                    "live": routing.live, "driver": target.traffic.driver,
                    "message": done}

    async def signal(self, caller: Caller, run_id: str, signal: str) -> RunRecord:
        """A person's word to a running canary: ``promote`` (its current step ends now)
        or ``abort`` (every request back to the stable slot, the run rolled back)."""
        async with self._audited(caller):
            record = self.store.get_run(run_id, detail=False)
            refusal = caller.permissions.refusal(record.intent, record.stacks, [signal])
            if refusal is not None:
                raise ScopeDeniedError(refusal, intent=record.intent)
            if record.status is not RunStatus.running:
                raise ConflictError(f"run {run_id} is {record.status}, not running: there "
                                    f"is no canary to {signal}", intent=record.intent)
            canary = (record.traffic or {}).get("canary")
            if canary is None:
                raise ConflictError(f"run {run_id} has no canary step under way (yet); "
                                    f"nothing to {signal}", intent=record.intent)
            self.store.add_signal(run_id, signal, caller.name)
            self._record(caller, "accepted", 200, intent=record.intent, run_id=run_id,
                         reason=f"{signal} canary of run {run_id} at step "
                         f"{canary.get('step')} ({canary.get('weight')}%)")
            self.audit_written(record.intent)
            return self.store.get_run(run_id, detail=False)

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

    def may_read(self, caller: Caller, what: str) -> None:
        """Refuse (and record) a caller without the ``read`` scope."""
        if not caller.may("read"):
            exc = ScopeDeniedError(f"{caller.name} lacks the 'read' scope ({what})")
            self._record(caller, "refused", exc.status, reason=f"{exc.code}: {exc.message}")
            exc.audited = True
            raise exc

    async def reap_standby(self, caller: Caller) -> list[str]:
        """Remove the standby slots whose window has passed (their containers; never
        their volumes), unless their stack is busy or the proxy says they serve."""
        from datetime import UTC, datetime  # noqa: PLC0415

        removed: list[str] = []
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        for entry in self.store.expired_standby(now):
            stack, service, slot = entry["stack"], entry["service"], entry["slot"]
            if self.ctx.queue.busy([stack]):
                continue
            try:
                driver = self.ctx.runtime.traffic(
                    stack, service, Traffic.model_validate(entry["traffic"]))
                try:
                    routing = await driver.routing()
                finally:
                    await driver.close()
                engine = self.ctx.queue.executor.engine
                resumes_on = (self.store.last_traffic(stack, service) or {}).get("after")
                if slot in routing.ready or (routing.paused and slot == resumes_on):
                    self.store.clear_standby(stack, service, entry["run_id"])
                    continue  # it serves (or will on resume): not a standby any more
                containers = await engine.containers(entry["project"], [service])
                for container in containers:
                    await engine.remove(container.id)
            except ChatopsError:
                continue  # the proxy or the engine is away: try again next time
            self.store.clear_standby(stack, service, entry["run_id"])
            what = (f"removed the standby slot {slot} of {stack}/{service} (its window "
                    f"ended at {entry['until']}; {len(containers)} container(s))")
            self._record(caller, "accepted", 200, reason=what, run_id=entry["run_id"])
            removed.append(what)
        return removed

    # -- a schedule's fire -----------------------------------------------------------

    async def fire(self, caller: Caller, name: str) -> str:
        """Start a scheduled run of ``name`` (refused outside a deploy window)."""
        async with self._audited(caller, name):
            intent = self.ctx.load(name)
            window(self.ctx, caller, name)
            decision = RunDecision(intent=intent, sha=None)
            return await self._start(caller, decision, self.ctx.plan(intent))

    def skipped(self, caller: Caller, name: str, why: str) -> None:
        self._record(caller, "skipped", 200, intent=name, reason=why)

