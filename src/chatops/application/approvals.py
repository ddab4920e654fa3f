"""Runs that wait for people: an intent's ``approval`` block, written once for every way
a run starts (the API, a merge, a schedule, chat, the CLI, an orchestration).

A run that needs approval is recorded ``awaiting_approval`` with its plan, and nothing
else happens: the checkout, the containers and the proxy stay as they are. The bots post
the question with Approve and Deny buttons. Each approver's word is one row in the run
history (a second click counts once), so a word given in another process (the CLI, the
service) reaches the process that holds the run. The run then moves on exactly once,
by a compare-and-set on its status:

    awaiting_approval ──(min approvals)──▶ queued ──▶ running ──▶ …
           │──(a deny)──────────────────▶ denied
           │──(ttl passed)──────────────▶ expired
           └──(a newer commit's run)────▶ superseded

Of two racing moves (the last approval and a newer commit's run), one wins; the other
sees the status it lost to and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from msgspec import Struct

from chatops import events as ev
from chatops.application.caller import Caller
from chatops.application.context import Context
from chatops.application.decisions import RunDecision, moved_checkout, window
from chatops.application.stream import EventStream
from chatops.durations import format_duration
from chatops.errors import (
    AlreadyAwaitingError,
    ChatopsError,
    NotAwaitingError,
    OtherCommitError,
    ScopeDeniedError,
    SelfApprovalError,
)
from chatops.gitops.commits import image_changes_between
from chatops.intents.approval import Approval
from chatops.notify.approvals import Announcer, ApprovalNotice
from chatops.planning.images import ImageChange
from chatops.planning.render import plan_to_dict, render_text
from chatops.planning.steps import Plan
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore, new_run_id


class Desk(Protocol):
    """What holding runs needs of the use cases (``Deploys``): the run history and
    context, the event stream, background work, and a run's end."""

    @property
    def store(self) -> RunStore: ...

    ctx: Context
    stream: EventStream

    def spawn(self, work: Awaitable[T]) -> asyncio.Task[T]: ...

    async def ended(self, run_id: str, *, detail: bool = False) -> RunRecord: ...

T = TypeVar("T")
POLL = 0.25  # seconds between looks at the run history for words given elsewhere
SETTLED = {RunStatus.denied: "⛔ denied", RunStatus.expired: "⌛ expired",
           RunStatus.superseded: "⏭️ superseded", RunStatus.interrupted: "⏹️ interrupted"}


class Tally(Struct, frozen=True):
    """The words given on a run so far."""

    approved: tuple[str, ...]
    denied: tuple[str, ...]
    needed: int

    @classmethod
    def of(cls, approval: dict[str, Any]) -> Tally:
        votes = approval.get("votes") or []
        return cls(tuple(v["who"] for v in votes if v["verdict"] == "approve"),
                   tuple(v["who"] for v in votes if v["verdict"] == "deny"),
                   int(approval.get("min", 1)))

    def text(self) -> str:
        done = f"{len(self.approved)} of {self.needed} approval(s)"
        return done + (f": {', '.join(self.approved)}" if self.approved else "")


class Vote(Struct, frozen=True):
    """What one approver's word did: the run as it is now, and whether it counted."""

    record: RunRecord
    verdict: str
    counted: bool
    tally: Tally

    def text(self) -> str:
        run = self.record
        head = {RunStatus.denied: f"⛔ run `{run.id}` of {run.intent} denied",
                RunStatus.queued: f"✅ run `{run.id}` of {run.intent} approved",
                RunStatus.running: f"✅ run `{run.id}` of {run.intent} approved"}.get(
                    run.status, f"🔐 run `{run.id}` of {run.intent} awaits approval")
        again = "" if self.counted else " (your word was counted already)"
        return f"{head}: {self.tally.text()}{again}"


class Held(Struct, frozen=True):
    """A run held for its approvals, and what it needs to start once approved."""

    caller: Caller
    decision: RunDecision
    plan: Plan
    policy: Approval
    run_id: str
    actor: str
    parent_id: str | None = None
    start: Callable[[str], object] | None = None  # starts it (default: the run queue)


class Approvals:
    """Holding runs for their approvals, and taking approvers' words."""

    def __init__(self, deploys: Desk, announcers: list[Announcer]) -> None:
        self.deploys = deploys
        self.announcers = announcers
        self.holds: dict[str, asyncio.Task[RunStatus]] = {}
        self._wake: dict[str, asyncio.Event] = {}

    @property
    def store(self) -> RunStore:
        return self.deploys.store

    # -- holding a run ------------------------------------------------------------

    def refusal(self, decision: RunDecision) -> None:
        """Refuse a second run of the same commit while one awaits its approvals."""
        for waiting in self.store.awaiting(decision.intent.name):
            if waiting.sha == decision.sha:
                raise AlreadyAwaitingError(
                    f"run {waiting.id} of {decision.intent.name} already awaits approval "
                    f"for {'commit ' + decision.sha[:12] if decision.sha else 'this run'}; "
                    "approve or deny that one", intent=decision.intent.name)

    async def hold(self, caller: Caller, decision: RunDecision, plan: Plan,
                   policy: Approval, *, actor: str | None = None,
                   parent_id: str | None = None, stacks: list[str] | None = None,
                   start: Callable[[str], object] | None = None) -> str:
        """Record the run as awaiting its approvals, supersede older ones of the
        intent, and watch it in the background; return its id. Nothing else changes."""
        store, intent = self.store, decision.intent.name
        run_id = new_run_id()
        now = datetime.now(UTC)
        expires = (now + timedelta(seconds=policy.ttl)).isoformat(timespec="milliseconds")
        store.create_run(intent=intent, trigger=caller.via, actor=actor or caller.name,
                         client=caller.client, stacks=stacks or decision.stacks,
                         sha=decision.sha,
                         plan=plan_to_dict(plan), status=RunStatus.awaiting_approval,
                         run_id=run_id, parent_id=parent_id)
        store.set_approval(run_id, {
            "min": policy.min, "approvers": list(policy.approvers),
            "self_approve": policy.self_approve, "ttl_seconds": policy.ttl,
            "expires_at": expires, "messages": []})
        if decision.pr is not None:
            store.set_pull_request(run_id, decision.pr.as_dict())
        if decision.rollback_of is not None:
            store.set_rollback_of(run_id, decision.rollback_of)
        for older in store.awaiting(intent):
            if older.id != run_id and store.move_status(
                    older.id, RunStatus.awaiting_approval, RunStatus.superseded,
                    f"superseded by run {run_id}"
                    + (f" (commit {decision.sha[:12]})" if decision.sha else "")):
                self.wake(older.id)
        liveness = self.deploys.ctx.runtime.locks.hold_run(run_id)
        self.deploys.stream(ev.Event(ev.RUN_AWAITING, run_id, intent, {
            "stacks": decision.stacks, "via": caller.via, "expires_at": expires}))
        self._wake[run_id] = asyncio.Event()
        held = Held(caller, decision, plan, policy, run_id, actor or caller.name, parent_id,
                    start)
        task = asyncio.ensure_future(self._watch(held, liveness))
        self.holds[run_id] = task
        task.add_done_callback(lambda _: self.holds.pop(run_id, None))
        return run_id

    def wake(self, run_id: str) -> None:
        event = self._wake.get(run_id)
        if event is not None:
            event.set()

    async def held(self, run_id: str, timeout: float) -> None:
        """Until a held run is released or decided (at once for any other run)."""
        task = self.holds.get(run_id)
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _watch(self, held: Held, liveness: Any) -> RunStatus:
        store, run_id = self.store, held.run_id
        refs: list[dict[str, str]] = []
        try:
            refs = await self._announce(held)
            status = await self._until_decided(run_id, held.policy)
        finally:
            liveness.release()
            self._wake.pop(run_id, None)
        if status is RunStatus.queued:
            status = await self._release(held)
        record = store.get_run(run_id, detail=False)
        if status is RunStatus.queued:
            self.deploys.spawn(self._settle_after(run_id, refs))
        else:
            self.deploys.stream(ev.Event(ev.RUN_FINISHED, run_id, record.intent, {
                "status": str(record.status), "reason": record.reason}))
            await self._settle(refs, f"{SETTLED.get(record.status, str(record.status))}: "
                               f"run `{run_id}` of {record.intent}: {record.reason}")
        return status

    async def _until_decided(self, run_id: str, policy: Approval) -> RunStatus:
        """Wait until a word moves the run on (``vote``), or end it when it is too late."""
        store = self.store
        deadline = asyncio.get_running_loop().time() + policy.ttl
        wake = self._wake[run_id]
        while True:
            record = store.get_run(run_id, detail=False)
            if record.status is not RunStatus.awaiting_approval:
                # queued (approved), denied or superseded: the word that did it moved it,
                # here or in another process
                return record.status
            tally = Tally.of(record.approval or {})
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                store.move_status(run_id, RunStatus.awaiting_approval, RunStatus.expired,
                                  f"{tally.text()} within {format_duration(policy.ttl)}; "
                                  "nothing was changed")
                continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(POLL, left))

    async def _release(self, held: Held) -> RunStatus:
        """Approved: the deploy window is checked again (time passed), the checkout moves
        to the commit, and the run joins the queue."""
        ctx, caller, decision = self.deploys.ctx, held.caller, held.decision
        try:
            window(ctx, caller, decision.intent.name)
            async with moved_checkout(ctx, decision):
                if held.start is not None:  # a whole of its own (a rolling deploy)
                    held.start(held.run_id)
                else:
                    ctx.queue.submit(held.plan, trigger=caller.via, actor=held.actor,
                                     client=caller.client, sha=decision.sha,
                                     run_id=held.run_id, parent_id=held.parent_id)
        except ChatopsError as exc:
            self.store.finish_run(held.run_id, RunStatus.failed,
                                  f"approved, but it could not start: {exc.message}")
            return RunStatus.failed
        return RunStatus.queued

    # -- telling people ------------------------------------------------------------

    async def _announce(self, held: Held) -> list[dict[str, str]]:
        if not self.announcers:
            return []
        run_id, policy, decision = held.run_id, held.policy, held.decision
        record = self.store.get_run(run_id, detail=False)
        changes = await self._changes(decision)
        notice = ApprovalNotice(
            run_id=run_id, intent=decision.intent.name, sha=decision.sha, actor=held.actor,
            via=held.caller.via, min=policy.min, approvers=tuple(policy.approvers),
            expires_at=(record.approval or {}).get("expires_at", ""),
            plan=render_text(held.plan), pull_request=record.pull_request, changes=changes)
        posted = await asyncio.gather(*(a.post(notice) for a in self.announcers))
        refs = [ref for ref in posted if ref is not None]
        if refs:
            approval = dict(record.approval or {})
            approval.pop("votes", None)
            self.store.set_approval(run_id, {**approval, "messages": refs})
        return refs

    async def _changes(self, decision: RunDecision) -> tuple[ImageChange, ...]:
        """The image changes from what is deployed (or the checkout) to the commit."""
        ctx = self.deploys.ctx
        if decision.sha is None:
            return ()
        sync = ctx.sync()
        before = ctx.runtime.store.deployed_sha(decision.intent.name)
        try:
            if before is None:
                before = await asyncio.to_thread(sync.head)
            return await asyncio.to_thread(image_changes_between, sync, ctx.repo,
                                           decision.intent, before, decision.sha)
        except ChatopsError:
            return ()

    async def _settle(self, refs: list[dict[str, str]], text: str) -> None:
        by_platform = {a.platform: a for a in self.announcers}
        await asyncio.gather(*(by_platform[r["platform"]].settle(r, text) for r in refs
                               if r.get("platform") in by_platform))

    async def _settle_after(self, run_id: str, refs: list[dict[str, str]]) -> None:
        if not refs:
            return
        record = self.store.get_run(run_id, detail=False)
        await self._settle(refs, f"✅ approved ({Tally.of(record.approval or {}).text()}); "
                           f"run `{run_id}` is under way")
        ended = await self.deploys.ended(run_id)
        icon = "✅" if ended.status is RunStatus.succeeded else "❌"
        await self._settle(refs, f"{Tally.of(ended.approval or {}).text()}\n{icon} run "
                           f"`{run_id}` of {ended.intent}: {ended.status}"
                           + (f"\n{ended.reason}" if ended.reason else ""))

    # -- an approver's word ------------------------------------------------------------

    def vote(self, caller: Caller, run_id: str, verdict: str, sha: str | None) -> Vote:
        """``approve`` or ``deny`` run ``run_id`` (at commit ``sha``, when the word names
        one), refused unless the caller may, the run still waits, and the commit is its
        own. Recorded by the caller (``Deploys.approve``)."""
        store = self.store
        record: RunRecord = store.get_run(run_id, detail=False)
        policy = record.approval
        if policy is None:
            raise NotAwaitingError(f"run {run_id} of {record.intent} needs no approval",
                                   intent=record.intent)
        if sha is not None and not (record.sha or "").startswith(sha.lower()):
            raise OtherCommitError(
                f"this {verdict} is for commit {sha[:12]}, but run {run_id} deploys "
                f"{'commit ' + record.sha[:12] if record.sha else 'no named commit'}; "
                "answer the question about that commit", field="sha", intent=record.intent)
        if record.status is not RunStatus.awaiting_approval:
            raise NotAwaitingError(
                f"run {run_id} of {record.intent} is {record.status}"
                + (f" ({record.reason})" if record.reason else "")
                + ": it no longer waits for approval", intent=record.intent)
        refusal = caller.permissions.approval_refusal(record.intent, record.stacks,
                                                      policy.get("approvers") or [])
        if refusal is not None:
            raise ScopeDeniedError(refusal, intent=record.intent)
        if not policy.get("self_approve") and caller.name == record.actor:
            raise SelfApprovalError(f"{caller.name} asked for run {run_id} and may not "
                                    "approve it (self_approve: false)", intent=record.intent)
        counted = store.vote(run_id, who=caller.name, verdict=verdict, via=caller.via,
                             client=caller.client, sha=record.sha)
        if verdict == "deny" and counted:
            store.move_status(run_id, RunStatus.awaiting_approval, RunStatus.denied,
                              f"denied by {caller.name} via {caller.via}; nothing was "
                              "changed")
        tally = Tally.of(store.get_run(run_id, detail=False).approval or {})
        if len(tally.approved) >= tally.needed:
            # The process that holds the run starts it when it sees it queued.
            store.move_status(run_id, RunStatus.awaiting_approval, RunStatus.queued,
                              f"approved by {', '.join(tally.approved)}")
        self.wake(run_id)
        now = store.get_run(run_id, detail=False)
        return Vote(now, verdict, counted, Tally.of(now.approval or {}))
