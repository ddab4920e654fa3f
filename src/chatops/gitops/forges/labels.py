"""Who approved: a label counts when the pull request was merged into the deploy branch
carrying it, and the forge's history shows it was added by someone ``label_by`` allows,
who is not the pull request's author (unless ``self_approve``), after the last push to
it (a push after approval voids it, as "dismiss stale reviews" does). Each refusal names
who added the label and why it does not count. The same rule for every forge."""

from __future__ import annotations

import time

from chatops.approvers import level_at_least
from chatops.gitops.forges.base import Forge, LabelEvent, LabelHistory, PullRequest


def approval_problem(pr: PullRequest | None, label: str, branch: str, sha: str) -> str | None:
    """Why ``sha`` may not deploy under ``label`` by the pull request alone, or None."""
    if pr is None:
        return f"no pull request merged commit {sha[:12]} into {branch}"
    if not pr.merged:
        return f"pull request #{pr.number} was closed without being merged"
    if pr.base != branch:
        return f"pull request #{pr.number} was merged into {pr.base}, not {branch}"
    if label not in pr.labels:
        have = ", ".join(pr.labels) or "none"
        return (f"pull request #{pr.number} does not carry the label {label!r} "
                f"(labels: {have})")
    return None


def last_added(history: LabelHistory, label: str) -> LabelEvent | None:
    """The addition of ``label`` that is in force (the last one, if no removal follows)."""
    found = None
    for event in sorted((e for e in history.events if e.label == label), key=lambda e: e.at):
        found = event if event.added else None
    return found


def _addition(forge: Forge, pr: PullRequest, history: LabelHistory, label: str
              ) -> tuple[LabelEvent, str] | str:
    """The addition of ``label`` in force and who made it, in words; or why none is."""
    added = last_added(history, label)
    where = f"on pull request #{pr.number}"
    if added is None:
        return (f"{forge.forge} has no record of who added the label {label!r} {where}: "
                "remove it and add it again")
    return added, f"the label {label!r} {where} was added by {added.actor}"


#: How long a permission or membership the forge confirmed is taken as still true.
GRANT_SECONDS = 300.0


async def allowed(forge: Forge, user: str, rules: tuple[str, ...],
                  granted: dict[tuple[str, str], float] | None = None,
                  merged_by: str | None = None) -> bool:
    """Whether ``user`` matches one of ``rules``; what the forge confirms is kept in
    ``granted`` for ``GRANT_SECONDS`` (a refusal is always asked again). Who merged the
    pull request has write permission (every forge requires it to merge), so that is
    not asked of the forge."""
    now = time.monotonic()
    for rule in rules:
        kind, _, value = rule.partition(":")
        if kind == "user" and user.lower() == value.lower():
            return True
        if rule == "permission:write" and merged_by and user.lower() == merged_by.lower():
            return True
        if granted is not None and granted.get((user, rule), 0.0) > now:
            return True
        if (kind == "permission" and level_at_least(await forge.permission(user), value)) \
                or (kind in ("team", "group") and await forge.member_of(user, value)):
            if granted is not None:
                granted[(user, rule)] = now + GRANT_SECONDS
            return True
    return False


async def labeller_problem(forge: Forge, pr: PullRequest, history: LabelHistory,
                           label: str, *, rules: tuple[str, ...], self_approve: bool,
                           granted: dict[tuple[str, str], float] | None = None) -> str | None:
    """Why the label on ``pr`` does not count as approval, or None."""
    found = _addition(forge, pr, history, label)
    if isinstance(found, str):
        return found
    added, who = found
    if added.actor.lower() == pr.author.lower() and not self_approve:
        return (f"{who}, the pull request's author; someone else must approve (or set "
                "self_approve: true in the intent)")
    if history.pushed_at is None:
        return (f"{forge.forge} does not say when the head {pr.head[:12]} of pull request "
                f"#{pr.number} was pushed, so the label {label!r} cannot be shown to "
                "come after it")
    if added.at < history.pushed_at:
        return (f"{who} at {added.at:%Y-%m-%d %H:%M:%S %Z}, before the last push "
                f"({history.pushed_at:%Y-%m-%d %H:%M:%S %Z}); a push after approval voids "
                "it: add the label again")
    if not await allowed(forge, added.actor, rules, granted, pr.merged_by):
        return f"{who}, who does not match label_by ({', '.join(rules)})"
    return None


async def previewer_problem(forge: Forge, pr: PullRequest, history: LabelHistory,
                            label: str, *, rules: tuple[str, ...],
                            granted: dict[tuple[str, str], float] | None = None
                            ) -> str | None:
    """Why the preview label on ``pr`` does not let it run a preview, or None: it must
    be added by someone ``rules`` allow who is not the author (never the author alone).
    A push after it redeploys the preview (what a preview runs is sandboxed by the
    compose policy with no exception, and gets none of production's secrets)."""
    found = _addition(forge, pr, history, label)
    if isinstance(found, str):
        return found
    added, who = found
    if added.actor.lower() == pr.author.lower():
        return f"{who}, the pull request's author; a preview needs someone else's label"
    if not await allowed(forge, added.actor, rules, granted):
        return f"{who}, who does not match label_by ({', '.join(rules)})"
    return None
