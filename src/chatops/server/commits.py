"""Deploying a commit: is it on the deploy branch, did a labelled pull request merge it
(GitHub), then check it out. Everything that can refuse runs before the checkout moves."""


from __future__ import annotations

import asyncio

from chatops.errors import (
    IntentError,
)
from chatops.gitops.git import GitError, GitUnreachableError
from chatops.gitops.github import GitHubError, PullRequest, approval_problem
from chatops.gitops.sync import RepoSync
from chatops.intents.loader import IntentFile, parse_intent
from chatops.intents.model import NAME_RE
from chatops.server.context import ApiError, Services, _load


def git_refusal(exc: GitError, *, field: str | None = None,
                intent: str | None = None) -> ApiError:
    """An unreachable remote is 503; any other refusal of the commit is 422."""
    if isinstance(exc, GitUnreachableError):
        return ApiError(503, "git_unreachable", exc.message, intent=intent)
    return ApiError(422, "commit_not_on_branch", exc.message, field=field, intent=intent)


async def _from_commit(s: Services, name: str, sha: str | None
                       ) -> tuple[IntentFile, str, PullRequest | None]:
    """Check the commit (on the branch, approved on GitHub), then check it out.

    Everything that can refuse runs before the checkout moves, so a refusal changes
    nothing on the host.
    """
    if not NAME_RE.match(name):
        raise ApiError(422, "invalid_intent_name",
                       "intent names use only letters, digits, '-' and '_'", field="name")
    base = s.runtime.settings
    sync = RepoSync(s.repo.root, base.git_remote, base.deploy_branch)
    assert s.checkout_lock is not None  # noqa: S101 - set by create_app
    async with s.checkout_lock:
        try:
            if not (s.repo.root / ".git").exists():
                raise GitError(f"{s.repo.root} is not a Git checkout")
            await asyncio.to_thread(sync.fetch)
            full = await asyncio.to_thread(sync.resolve, sha)
        except GitError as exc:
            raise git_refusal(exc, field="sha", intent=name) from None
        raw = None
        for suffix in (".yaml", ".yml"):
            raw = await asyncio.to_thread(sync.show, full, f"chatops/intents/{name}{suffix}")
            if raw is not None:
                break
        if raw is None:
            raise ApiError(404, "intent_not_found",
                           f"no intent named {name!r} at commit {full[:12]}", intent=name)
        try:
            at_commit = parse_intent(raw, label=f"{name}.yaml", name=name)
        except IntentError as exc:
            raise ApiError(422, "invalid_intent", f"intent {name!r} is invalid at commit "
                           f"{full[:12]}: {exc.message}",
                           problems=[p.as_dict() for p in exc.problems], intent=name) from None
        # Without GitHub, labels are checked by the caller, after the key's scope.
        pr = await _github_approval(s, at_commit, full) if s.github is not None else None
        if s.manager.depth and await asyncio.to_thread(sync.head) != full:
            raise ApiError(409, "checkout_busy", "runs of another commit are in progress; "
                           "try again when they end", intent=name)
        try:
            await asyncio.to_thread(sync.checkout_to, full)
        except GitError as exc:
            raise ApiError(409, "checkout_dirty", exc.message, intent=name) from None
    return _load(s, name), full, pr


async def _github_approval(s: Services, intent: IntentFile, full: str) -> PullRequest | None:
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


