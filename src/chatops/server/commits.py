"""Deploying a commit: decide everything first, from Git objects; move the checkout last.

``decide_run`` makes every decision a run needs without touching the host: the commit is
on the deploy branch, the intent as it is *at that commit* (read with ``git cat-file``,
no checkout), the key's scope, the approval (GitHub's pull request, or the approved
labels), whether the commit is older than the one deployed (a rollback, which needs the
``rollback`` scope) and the deploy window. Only a run that will execute moves the
checkout, in ``moved_checkout``, under the checkout lock; a refusal or a dry run leaves
HEAD and the working tree as they were.
"""


from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from chatops.errors import IntentError
from chatops.gitops.git import GitError, GitUnreachableError
from chatops.gitops.github import GitHubError, PullRequest, approval_problem
from chatops.gitops.sync import RepoSync
from chatops.intents.loader import IntentFile, parse_intent
from chatops.server.context import ApiError, Services, _load, checked_name, window_check
from chatops.server.keys import ApiKey


def git_refusal(exc: GitError, *, field: str | None = None,
                intent: str | None = None) -> ApiError:
    """An unreachable remote is 503; any other refusal of the commit is 422."""
    if isinstance(exc, GitUnreachableError):
        return ApiError(503, "git_unreachable", exc.message, intent=intent)
    return ApiError(422, "commit_not_on_branch", exc.message, field=field, intent=intent)


@dataclass(frozen=True)
class RunDecision:
    """Everything decided about a run before anything changes."""

    intent: IntentFile  # as it is at ``sha`` when the run deploys a commit
    sha: str | None  # the full commit id, or None outside a Git checkout
    pr: PullRequest | None = None
    move: bool = False  # the checkout must be at ``sha`` before the run
    rollback_of: str | None = None  # the newer commit deployed now, when going back
    notes: tuple[str, ...] = ()  # what the audit record should say beside "accepted"

    @property
    def stacks(self) -> list[str]:
        return sorted({d.stack for d in self.intent.documents})


def repo_sync(s: Services) -> RepoSync:
    base = s.runtime.settings
    return RepoSync(s.repo.root, base.git_remote, base.deploy_branch)


def deploys_commits(s: Services, sha: str | None) -> bool:
    """Whether this run goes through Git: it names a commit, or syncs to the branch."""
    return sha is not None or (s.settings.sync and (s.repo.root / ".git").exists())


async def read_at_commit(s: Services, name: str, sha: str | None) -> tuple[IntentFile, str]:
    """Fetch, check the commit is on the deploy branch (the branch head when ``sha`` is
    None), and read intent ``name`` as it is there. Nothing in the checkout moves."""
    sync = repo_sync(s)
    assert s.checkout_lock is not None  # noqa: S101 - set by create_app
    async with s.checkout_lock:  # one git process at a time in this checkout
        try:
            if not (s.repo.root / ".git").exists():
                raise GitError(f"{s.repo.root} is not a Git checkout")
            await asyncio.to_thread(sync.fetch)
            full = await asyncio.to_thread(sync.resolve, sha)
        except GitError as exc:
            raise git_refusal(exc, field="sha", intent=name) from None
        raw = await asyncio.to_thread(sync.intent_at, full, name)
    if raw is None:
        raise ApiError(404, "intent_not_found",
                       f"no intent named {name!r} at commit {full[:12]}", intent=name)
    try:
        return parse_intent(raw, label=f"{name}.yaml", name=name), full
    except IntentError as exc:
        raise ApiError(422, "invalid_intent", f"intent {name!r} is invalid at commit "
                       f"{full[:12]}: {exc.message}",
                       problems=[p.as_dict() for p in exc.problems], intent=name) from None


async def decide_run(s: Services, key: ApiKey, name: str, sha: str | None, *,
                     dry_run: bool) -> RunDecision:
    """Every check of a run, in one order, changing nothing; the refusal is an
    ``ApiError``. The order: name, commit required, the commit and the intent at it,
    the key's scope, the approval, a rollback's scope, the deploy window."""
    checked_name(name)
    if sha is None and s.settings.commit_required:
        raise ApiError(403, "commit_required", "this service deploys merged commits only: "
                       "send \"sha\", the commit that was merged", intent=name)
    through_git = deploys_commits(s, sha)
    full: str | None = None
    if through_git:
        intent, full = await read_at_commit(s, name, sha)
    else:
        intent = _load(s, name)
    stacks = sorted({d.stack for d in intent.documents})
    refusal = key.refusal(intent.name, stacks, [d.action for d in intent.documents])
    if refusal:
        raise ApiError(403, "scope_denied", refusal, intent=intent.name)
    pr = await approval(s, intent, full or "")
    notes: list[str] = []
    if pr is not None:
        notes.append(f"PR #{pr.number} by {pr.author}, merged by {pr.merged_by}, labels "
                     f"{', '.join(pr.labels)}; commit {full}")
    rollback_of = await _rollback_of(s, intent.name, full) if through_git else None
    if rollback_of is not None:
        if not key.may("rollback"):
            raise ApiError(403, "scope_denied", f"commit {full and full[:12]} is older than "
                           f"{rollback_of[:12]}, deployed now: going back is a rollback, and "
                           f"key {key.name!r} lacks the 'rollback' scope", intent=intent.name)
        notes.append(f"rollback from {rollback_of[:12]} to {full and full[:12]}")
    if not dry_run:
        override = window_check(s, key, intent.name)
        if override:
            notes.append(override)
    return RunDecision(intent=intent, sha=full if through_git else sha, pr=pr,
                       move=through_git and not dry_run, rollback_of=rollback_of,
                       notes=tuple(notes))


async def _rollback_of(s: Services, intent: str, full: str | None) -> str | None:
    """The deployed commit, when ``full`` is older than it (a strict ancestor)."""
    deployed = s.runtime.store.deployed_sha(intent)
    if full is None or deployed is None or deployed == full:
        return None
    older = await asyncio.to_thread(repo_sync(s).is_ancestor, full, deployed)
    return deployed if older else None


@contextlib.asynccontextmanager
async def moved_checkout(s: Services, decision: RunDecision) -> AsyncIterator[None]:
    """Move the checkout to the decided commit and hold the checkout lock while the
    caller queues the run, so no other commit's run moves it in between."""
    if not decision.move or decision.sha is None:
        yield
        return
    sync = repo_sync(s)
    assert s.checkout_lock is not None  # noqa: S101 - set by create_app
    async with s.checkout_lock:
        if s.manager.depth and await asyncio.to_thread(sync.head) != decision.sha:
            raise ApiError(409, "checkout_busy", "runs of another commit are in progress; "
                           "try again when they end", intent=decision.intent.name)
        try:
            await asyncio.to_thread(sync.checkout_to, decision.sha)
        except GitError as exc:
            raise ApiError(409, "checkout_dirty", exc.message,
                           intent=decision.intent.name) from None
        yield


async def approval(s: Services, intent: IntentFile, full: str) -> PullRequest | None:
    """Refuse (403/503) unless GitHub says a labelled PR merged ``full``; or, without
    GitHub, unless every label is among the approved labels."""
    base = s.runtime.settings
    if s.github is None:
        if not s.settings.labels:
            raise ApiError(503, "not_configured", "no approved labels are configured (set "
                           "APPROVED_LABEL or CHATOPS_APPROVED_LABELS)", intent=intent.name)
        for doc in intent.documents:
            if doc.label_required not in s.settings.labels:
                raise ApiError(403, "label_not_approved",
                               f"intent requires label {doc.label_required!r}, which is not "
                               "among the approved labels", intent=intent.name)
        return None
    try:
        pr = await s.github.merged_pull_request(full, base.deploy_branch)
    except GitHubError as exc:
        raise ApiError(503, "github_unavailable", exc.message, intent=intent.name) from None
    for doc in intent.documents:
        problem = approval_problem(pr, doc.label_required, base.deploy_branch, full)
        if problem:
            raise ApiError(403, "label_not_approved", problem, intent=intent.name)
    return pr
