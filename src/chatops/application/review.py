"""The pull request as a surface: what a merge would do, in one comment per pull request.

For a pull request (its base and head commits), the intents it affects are read at the
head from Git objects (nothing moves), each is planned, and the comment shows, per
intent: the image changes old → new, the exact commands, the gates, the strategy and
the rollback (the dry run's text), and who must approve a run. The comment carries a
hidden marker, so each push updates the same comment rather than adding one. The
service does this for the forge's pull-request webhook; ``chatops plan --pr`` does it
from the validate workflow. Both call ``plan_pull_request`` and ``publish``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from msgspec import Struct

from chatops.errors import ChatopsError
from chatops.gitops.affected import affected_by
from chatops.gitops.commits import image_changes_between, read_commit
from chatops.gitops.forges import Forge
from chatops.gitops.git import ZERO_SHA
from chatops.gitops.sync import RepoSync
from chatops.intents.graph import topological_order
from chatops.intents.loader import IntentFile
from chatops.planning.images import ImageChange
from chatops.planning.render import render_text
from chatops.planning.steps import Plan
from chatops.planning.uses import Tree
from chatops.policy import intent_violations
from chatops.repo import GitOpsRepo
from chatops.secrets.changes import secret_changes

MARKER = "<!-- chatops:plan -->"
COMMENT_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters


def changed_between(sync: RepoSync, base: str, head: str) -> list[str]:
    """The files a change touches (all of them for a new branch)."""
    if base == ZERO_SHA:
        return sync.all_files_at(head)
    return sync.changed_files(base, head)


def secrets_between(sync: RepoSync, base: str, head: str, files: Iterable[str]
                    ) -> tuple[tuple[str, str], ...]:
    """Which secrets of the SOPS files among ``files`` change from ``base`` to ``head``,
    by key name (read from the ciphertexts: nothing is decrypted)."""
    found: list[tuple[str, str]] = []
    for path in files:
        before = sync.show(base, path) if base != ZERO_SHA else None
        what = secret_changes(before, sync.show(head, path))
        if what:
            found.append((path, what))
    return tuple(found)


class IntentReview(Struct, frozen=True):
    name: str
    summary: str
    changes: tuple[ImageChange, ...] = ()
    plan: str = ""
    problem: str | None = None  # invalid at the head commit
    files: tuple[str, ...] = ()  # the changed files it uses: why the merge deploys it
    #: (file, what changed) of the SOPS files among them: key names, never values.
    secrets: tuple[tuple[str, str], ...] = ()
    #: What the compose policy refuses in its compose files (the merge would not run).
    refused: tuple[str, ...] = ()


class PullRequestPlan(Struct, frozen=True):
    number: int
    base: str
    head: str
    intents: tuple[IntentReview, ...]

    def comment(self) -> str:
        """The comment, in the forges' markdown, with the marker that finds it again."""
        out = [MARKER, f"### chatops plan for `{self.head[:12]}`", ""]
        if not self.intents:
            out.append("This pull request affects no intent: merging it deploys nothing.")
        else:
            n = len(self.intents)
            out.append(f"Merging deploys {n} intent{'s' if n != 1 else ''}, in this order. "
                       "Nothing runs before the merge (and the approvals each one asks).")
        for review in self.intents:
            out += ["", f"#### `{review.name}`: {review.summary}"]
            if review.problem:
                out += ["", f"⚠️ invalid at this commit, so it cannot deploy: "
                        f"{review.problem}"]
                continue
            if review.files:
                shown = ", ".join(f"`{f}`" for f in review.files[:20])
                more = len(review.files) - 20
                out += ["", f"Deployed because it uses {shown}"
                        + (f" and {more} more" if more > 0 else "")
                        + "; its label is needed."]
            if review.changes:
                out += ["", "| service | now | after the merge |", "| --- | --- | --- |"]
                out += [f"| {c.service} | `{c.old or '(none)'}` | `{c.new or '(removed)'}` |"
                        for c in review.changes]
            else:
                out += ["", "No image changes."]
            if review.secrets:
                out += ["", "Secrets this merge changes (names only, never values):"]
                out += [f"- `{file}`: {what}" for file, what in review.secrets]
            if review.refused:
                out += ["", "⛔ The compose policy (`chatops/policy.yaml`) refuses this; "
                        "it will not deploy as it is:"]
                out += [f"- {line}" for line in review.refused]
            else:
                out += ["", "✅ The compose policy passes."]
            out += ["", "```text", review.plan.rstrip(), "```"]
        out += ["", f"<sub>Updated for `{self.head[:12]}` (base `{self.base[:12]}`); "
                "this comment is updated on each push.</sub>"]
        text = "\n".join(out)
        if len(text) > COMMENT_LIMIT:
            text = text[:COMMENT_LIMIT] + "\n```\n\n… cut: run `chatops plan` for the rest."
        return text


def plan_pull_request(sync: RepoSync, repo: GitOpsRepo, planner: Callable[[IntentFile], Plan],
                      *, number: int, base: str, head: str) -> PullRequestPlan:
    """Plan every intent the pull request's change affects (blocking: Git processes)."""
    at_head = read_commit(sync, head)
    changed = changed_between(sync, base, head)
    assert at_head.tree is not None  # noqa: S101 - read_commit gives its tree
    hit = affected_by(changed, at_head.intents.values(), repo, at_head.tree)
    order = topological_order({name: [d for d in at_head.intents[name].depends_on if d in hit]
                               for name in hit})
    reviews: list[IntentReview] = []
    for name in order:
        intent = at_head.intents[name]
        reviews.append(IntentReview(
            name=name, summary=intent.summary(),
            changes=image_changes_between(sync, repo, intent, base, head),
            plan=render_text(planner(intent)), files=tuple(hit[name]),
            secrets=secrets_between(sync, base, head, hit[name]),
            refused=_refused(intent, repo, at_head.tree)))
    touched = {Path(f).stem for f in changed if f.startswith("chatops/intents/")}
    for name in sorted(touched & set(at_head.invalid)):
        reviews.append(IntentReview(name=name, summary="invalid",
                                    problem=at_head.invalid[name].message))
    return PullRequestPlan(number, base, head, tuple(reviews))


def _refused(intent: IntentFile, repo: GitOpsRepo, tree: Tree) -> tuple[str, ...]:
    try:
        return tuple(v.text() for v in intent_violations(intent, repo, tree))
    except ChatopsError as exc:  # the policy file itself, or an exception it lacks
        return (exc.message,)


class Published(Struct, frozen=True):
    comment_id: int
    created: bool

    def text(self, plan: PullRequestPlan) -> str:
        done = "posted" if self.created else "updated"
        return (f"{done} the plan comment {self.comment_id} on pull request #{plan.number} "
                f"({len(plan.intents)} intent(s) at {plan.head[:12]})")


async def publish(forge: Forge, plan: PullRequestPlan, extra: str = "") -> Published:
    """The plan comment, and ``extra`` below it (the pull request's previews)."""
    cid, created = await forge.upsert_comment(plan.number, MARKER, plan.comment()
                                              + (f"\n\n{extra}" if extra else ""))
    return Published(cid, created)


__all__ = [
    "MARKER",
    "Published",
    "PullRequestPlan",
    "changed_between",
    "image_changes_between",
    "plan_pull_request",
    "publish",
]
