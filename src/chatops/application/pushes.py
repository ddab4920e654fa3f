"""A push to the deploy branch (the webhook, and pull mode to come) and a pull request's
plan: the pushed commit read once (``CommitView``), the intents it affects approved and
run in dependency order."""

from __future__ import annotations

import asyncio
from typing import Any

from chatops.application.approving import approval
from chatops.application.asks import Push
from chatops.application.caller import Caller
from chatops.application.decisions import RunDecision, policy_passed, window
from chatops.application.review import (
    Published,
    PullRequestPlan,
    changed_between,
    plan_pull_request,
    publish,
)
from chatops.application.runs import Runs
from chatops.errors import (
    ChatopsError,
    ForcePushRefusedError,
    GitError,
    ReplayedDeliveryError,
    UnavailableError,
)
from chatops.gitops.affected import affected_intents
from chatops.gitops.commits import CommitView
from chatops.gitops.forges.base import SHA40
from chatops.gitops.git import ZERO_SHA
from chatops.store.database import utcnow
from chatops.store.records import RunRecord, RunStatus


class Pushes(Runs):
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
            sync = self.ctx.sync()
            async with self.ctx.checkout_lock:
                view, order = await self._affected(push.before, push.after)
                full, intents = view.sha, view.intents
                if push.before != ZERO_SHA and not await asyncio.to_thread(
                        sync.is_ancestor, push.before, full):
                    raise ForcePushRefusedError(
                        f"{push.ref} moved from {push.before[:12]} to {full[:12]}, which does "
                        "not contain it (a force-push rewrote history); deploy a commit "
                        "explicitly if that was intended")
                if not order:
                    self._claim(push)
                    self._record(caller, "ignored", 202,
                                 reason=f"push {full[:12]} affects no intent")
                    return full, []
                try:
                    window(self.ctx, None)
                    tree = view.tree
                    assert tree is not None  # noqa: S101 - read_commit gives its tree
                    for name in order:  # every compose file, before any approval is asked
                        await asyncio.to_thread(policy_passed, intents[name], self.ctx.repo,
                                                tree)
                    approvals = {name: await approval(self.ctx, intents[name], full)
                                 for name in order}
                    await asyncio.to_thread(sync.ensure_clean)  # refuse now, not after
                except ChatopsError as exc:  # the drift view tells why it did not run
                    self.store.note_commit(full, order, "refused",
                                           f"{exc.code}: {exc.message}")
                    raise
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

    async def review(self, caller: Caller, number: int, base: str | None, head: str,
                     branch: str | None = None) -> tuple[PullRequestPlan, Published]:
        """Plan what merging pull request ``number`` would deploy, and post it as the
        pull request's one chatops comment (updated on each push). Without ``base``
        (GitLab does not say), from where it leaves the deploy branch."""
        async with self._audited(caller):
            forge = self.ctx.forge
            if forge is None:
                raise UnavailableError("set CHATOPS_FORGE_REPO and CHATOPS_FORGE_TOKEN to "
                                       "comment plans on pull requests")
            if SHA40.match(head):  # seen now, so pushed by now (approving.labelled)
                self.store.saw_head(number, head)
            sync = self.ctx.sync()
            async with self.ctx.checkout_lock:  # one git process at a time here
                since = await asyncio.to_thread(sync.pull_request_range, number, head,
                                                branch, base)
                plan = await asyncio.to_thread(
                    lambda: plan_pull_request(sync, self.ctx.repo, self.ctx.plan,
                                              number=number, base=since, head=head))
            self.store.keep_plan_comment(number, plan.comment())
            published = await publish(forge, plan, self.comment_extra(number))
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
            later = order[order.index(intent.name) + 1:]
            try:
                run_id = await self._enqueue(caller, decision, plan, actor=actor)
            except ChatopsError as exc:
                self._record(caller, "refused", exc.status, intent=intent.name,
                             reason=f"{exc.code}: {exc.message}")
                self.store.note_commit(full, [intent.name], "refused",
                                       f"{exc.code}: {exc.message}")
                self.store.note_commit(full, later, "skipped",
                                       f"{intent.name}, before it, was refused")
                return
            record = await self.ended(run_id)
            if record.status is RunStatus.rolled_back:
                await self._revert(caller, record, full, approvals.get(intent.name))
            if record.status is not RunStatus.succeeded:
                # later intents depend on this one, or come after it
                self.store.note_commit(full, later, "skipped", f"{intent.name}, before it, "
                                       f"ended {record.status} (run {record.id})")
                return

    async def _revert(self, caller: Caller, record: RunRecord, sha: str, pr: Any) -> None:
        """Git remembers a rollback (``CHATOPS_REVERT_PR``): a pull request that reverts
        the rolled-back commit, for a person to label; pull mode and reconcile meanwhile
        never deploy that commit again (the checkout stays on it, as rolled back)."""
        forge = self.ctx.forge
        if forge is None or not self.ctx.runtime.settings.revert_pr:
            return
        sync = self.ctx.sync()
        try:
            head = await asyncio.to_thread(sync.resolve, None)
            if head != sha:
                raise GitError(f"{sync.branch} moved past {sha[:12]} since: revert it by hand")
            tree = await asyncio.to_thread(sync.git.out, "rev-parse", f"{sha}^1^{{tree}}")
            merged = f" (merged by pull request #{pr.number})" if pr is not None else ""
            title = f"Revert {sha[:12]}: run {record.id} of {record.intent} was rolled back"
            body = (f"chatops rolled back run {record.id} of {record.intent}{merged}: "
                    f"{record.reason}\n\nThis pull request returns {sync.branch} to what "
                    "runs. It deploys once merged with the intent's label.")
            branch = f"chatops/revert-{sha[:12]}"
            if not forge.makes_commits:  # the revert commit goes up by Git, unmoved here
                await asyncio.to_thread(sync.push_commit, tree, sha, f"{title}\n\n{body}",
                                        branch)
            number, url = await forge.open_revert(sha=sha, parent_tree=tree,
                                                  base=sync.branch, title=title, body=body,
                                                  branch=branch)
        except ChatopsError as exc:
            self._record(caller, "revert_failed", exc.status, intent=record.intent,
                         run_id=record.id, reason=f"no revert pull request: {exc.message}")
            self.store.add_line(record.id, utcnow(), "chatops",
                                f"no revert pull request: {exc.message}")
            return
        self.store.add_line(record.id, utcnow(), "chatops",
                            f"opened revert pull request #{number}: {url}")
        self._record(caller, "revert_pr", 201, intent=record.intent, run_id=record.id,
                     reason=f"revert pull request #{number} for {sha[:12]}: {url}")
