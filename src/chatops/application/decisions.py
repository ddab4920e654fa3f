"""Every check of a run, in one order, made before anything changes.

``decide_run`` reads the intent *at the commit* from Git objects (``git cat-file``, no
checkout), then checks the key's scope, the approval (the forge's pull request and who
labelled it, or the approved labels), whether the commit is older than the one deployed
(a rollback, which needs the ``rollback`` scope) and the deploy window.
``moved_checkout`` then moves the checkout, under the checkout lock, only for a run that
will execute: a refusal or a dry run leaves HEAD and the working tree as they were.
Refusals are ``ChatopsError``s that carry their own status; nothing here knows which
surface asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from zoneinfo import ZoneInfo

from msgspec import Struct, field

from chatops.application.approving import approval
from chatops.application.caller import Caller
from chatops.application.context import Context, checked_name
from chatops.errors import (
    CheckoutBusyError,
    CommitRequiredError,
    GitError,
    GitUnreachableError,
    NotACheckoutError,
    OutsideWindowError,
    PolicyRefusedError,
    ScopeDeniedError,
)
from chatops.gitops.forges import PullRequest
from chatops.intents.loader import IntentFile
from chatops.planning.uses import Tree, WorkTree
from chatops.policy import intent_violations
from chatops.repo import GitOpsRepo

#: How the notes of a run decided without the remote or the forge end (the run's log
#: says so too).
FETCH_FALLBACK = " (the remote did not answer)"
class RunDecision(Struct, frozen=True):
    """Everything decided about a run before anything changes."""

    intent: IntentFile  # as it is at ``sha`` when the run deploys a commit
    sha: str | None  # the full commit id, or None outside a Git checkout
    pr: PullRequest | None = None
    move: bool = False  # the checkout must be at ``sha`` before the run
    rollback_of: str | None = None  # the newer commit deployed now, when going back
    notes: tuple[str, ...] = ()  # what the audit record says beside "accepted"

    @property
    def stacks(self) -> list[str]:
        return sorted({d.stack for d in self.intent.documents})


async def branch_head(ctx: Context) -> str | None:
    """The head of the deploy branch, fetched now (None when the repository is not a Git
    checkout): what "deploy" means to a person who names no commit."""
    if not (ctx.repo.root / ".git").exists():
        return None
    sync = ctx.sync()
    async with ctx.checkout_lock:
        await asyncio.to_thread(sync.fetch)
        return await asyncio.to_thread(sync.resolve, None)


class Draft(Struct):
    """A run being decided: what was asked, and what the checks found so far."""

    caller: Caller
    name: str
    sha: str | None
    dry_run: bool
    branch_head: bool  # no sha from a person: the deploy branch's head
    through_git: bool = False
    full: str | None = None
    intent: IntentFile | None = None
    pr: PullRequest | None = None
    rollback_of: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> IntentFile:
        assert self.intent is not None  # noqa: S101 - read by an earlier check
        return self.intent

    def decision(self) -> RunDecision:
        return RunDecision(intent=self.read, sha=self.full if self.through_git else self.sha,
                           pr=self.pr, move=self.through_git and not self.dry_run,
                           rollback_of=self.rollback_of, notes=tuple(self.notes))


async def name_is_valid(ctx: Context, d: Draft) -> None:
    checked_name(d.name)


async def caller_may_run(ctx: Context, d: Draft) -> None:
    """A caller who may run nothing at all is refused before anything is fetched."""
    early = d.caller.permissions.refusal(d.name, (), ())
    if early:
        raise ScopeDeniedError(early, intent=d.name)


async def commit_when_required(ctx: Context, d: Draft) -> None:
    if d.sha is None and ctx.rules.commit_required and not d.branch_head:
        raise CommitRequiredError("this service deploys merged commits only: send \"sha\", "
                                  "the commit that was merged", intent=d.name)


async def intent_read(ctx: Context, d: Draft) -> None:
    """The intent as it is at the commit, read from Git objects (nothing in the checkout
    moves), once the remote is fetched and the commit found on the deploy branch (its
    head when no commit was named); outside a Git checkout, from the working tree. With
    no commit named (a schedule, a person's "deploy"), a remote that does not answer is
    not a refusal: the last fetched branch head is deployed, and a note says so."""
    d.through_git = ctx.through_git(d.sha)
    if not d.through_git:
        d.intent = ctx.load(d.name)
        return
    sync = ctx.sync()
    async with ctx.checkout_lock:  # one git process at a time in this checkout
        try:
            if not (ctx.repo.root / ".git").exists():
                raise NotACheckoutError(f"{ctx.repo.root} is not a Git checkout (clone the "
                                        "GitOps repository there to deploy commits)")
            try:
                await asyncio.to_thread(sync.fetch)
            except GitUnreachableError as exc:
                if d.sha is not None:
                    raise
                d.notes.append(f"{exc.message}: deploying from the last fetched "
                               f"{sync.remote}/{sync.branch}{FETCH_FALLBACK}")
            d.full = await asyncio.to_thread(sync.resolve, d.sha)
        except GitError as exc:
            exc.intent = d.name
            if exc.status in (409, 422):  # the commit itself is refused, not the remote
                exc.field = "sha"
            raise
        view = await asyncio.to_thread(ctx.view, d.full)
    d.intent = view.intent(d.name)


async def caller_scope(ctx: Context, d: Draft) -> None:
    check_scope(d.caller, d.read)


async def within_policy(ctx: Context, d: Draft) -> None:
    """The compose files the intent acts on, at the commit, pass the repository's compose
    policy (less the exceptions the intent names)."""
    if d.through_git and d.full:
        async with ctx.checkout_lock:  # the tree reads Git objects
            tree = ctx.view(d.full).tree
            await asyncio.to_thread(policy_passed, d.read, ctx.repo,
                                    tree or WorkTree(ctx.repo.root))
    else:
        await asyncio.to_thread(policy_passed, d.read, ctx.repo, WorkTree(ctx.repo.root))


def policy_passed(intent: IntentFile, repo: GitOpsRepo, tree: Tree) -> None:
    """Refuse what the compose policy refuses in ``intent``'s compose files (blocking:
    the tree may read Git objects)."""
    found = intent_violations(intent, repo, tree)
    if found:
        shown = "; ".join(v.text() for v in found[:5])
        more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
        raise PolicyRefusedError(f"the compose policy refuses {shown}{more} (an exception "
                                 "in chatops/policy.yaml, named in the intent's "
                                 "policy_exceptions, lifts a rule)", intent=intent.name)


async def approved(ctx: Context, d: Draft) -> None:
    d.pr = await approval(ctx, d.read, d.full or "", d.caller,
                          d.notes if d.sha is None else None)
    if d.pr is not None:
        d.notes.append(f"PR #{d.pr.number} by {d.pr.author}, merged by {d.pr.merged_by}, "
                       f"labels {', '.join(d.pr.labels)}; commit {d.full}")


async def going_back_allowed(ctx: Context, d: Draft) -> None:
    """A commit older than the one deployed is a rollback: it needs that scope."""
    if not d.through_git:
        return
    d.rollback_of = await _rollback_of(ctx, d.read.name, d.full)
    if d.rollback_of is None:
        return
    full = d.full and d.full[:12]
    if not d.caller.may("rollback"):
        raise ScopeDeniedError(
            f"commit {full} is older than {d.rollback_of[:12]}, deployed now: going back "
            f"is a rollback, and key {d.caller.name!r} lacks the 'rollback' scope",
            intent=d.read.name)
    d.notes.append(f"rollback from {d.rollback_of[:12]} to {full}")


async def in_deploy_window(ctx: Context, d: Draft) -> None:
    if not d.dry_run:
        override = window(ctx, d.caller, d.read.name)
        if override:
            d.notes.append(override)


Check = Callable[[Context, Draft], Awaitable[None]]
#: Every check of a run, in order: each may refuse (raising the error that says why) or
#: add to the draft; none changes anything. The cheap ones that need nothing come first.
RUN_CHECKS: tuple[Check, ...] = (
    name_is_valid, caller_may_run, commit_when_required, intent_read, caller_scope,
    within_policy, approved, going_back_allowed, in_deploy_window,
)


async def decide_run(ctx: Context, caller: Caller, name: str, sha: str | None, *,
                     dry_run: bool, branch_head: bool = False) -> RunDecision:
    """Every check of a run (``RUN_CHECKS``), in one order, changing nothing."""
    draft = Draft(caller, name, sha, dry_run, branch_head)
    for check in RUN_CHECKS:
        await check(ctx, draft)
    return draft.decision()


def check_scope(caller: Caller, intent: IntentFile) -> None:
    stacks = sorted({d.stack for d in intent.documents})
    refusal = caller.permissions.refusal(intent.name, stacks,
                                         [d.action for d in intent.documents])
    if refusal:
        raise ScopeDeniedError(refusal, intent=intent.name)


async def _rollback_of(ctx: Context, intent: str, full: str | None) -> str | None:
    """The deployed commit, when ``full`` is older than it (a strict ancestor)."""
    deployed = ctx.runtime.store.deployed_sha(intent)
    if full is None or deployed is None or deployed == full:
        return None
    older = await asyncio.to_thread(ctx.sync().is_ancestor, full, deployed)
    return deployed if older else None


def window(ctx: Context, caller: Caller | None, intent: str | None = None) -> str | None:
    """Refuse outside the deploy windows (naming the next open time) unless the caller
    may override them; return the note to audit when it did."""
    base = ctx.runtime.settings
    policy = base.policy()
    now = ctx.runtime.clock.now().astimezone(ZoneInfo(base.timezone))
    if policy.is_open(now):
        return None
    if caller is not None and caller.may("override-window"):
        return f"outside the deploy window; overridden by key {caller.name!r}"
    nxt = policy.next_open(now)
    when = nxt.isoformat() if nxt is not None else "not scheduled (a freeze is in force)"
    raise OutsideWindowError(f"deploys are closed at {now:%a %Y-%m-%d %H:%M %Z}; next "
                             f"open: {when}", intent=intent)


@contextlib.asynccontextmanager
async def moved_checkout(ctx: Context, decision: RunDecision) -> AsyncIterator[None]:
    """Move the checkout to the decided commit and hold the checkout lock while the
    caller queues the run, so no other commit's run moves it in between."""
    if not decision.move or decision.sha is None:
        yield
        return
    sync = ctx.sync()
    async with ctx.checkout_lock:
        if ctx.queue.depth and await asyncio.to_thread(sync.head) != decision.sha:
            raise CheckoutBusyError("runs of another commit are in progress; try again "
                                    "when they end", intent=decision.intent.name)
        try:
            await asyncio.to_thread(sync.checkout_to, decision.sha)
        except GitError as exc:
            exc.intent = decision.intent.name
            raise
        yield
