"""The forge's word on a commit: a pull request merged it into the deploy branch with
each label the intent needs, added by someone allowed to (``gitops.forges.labels``);
without a forge, the approved labels. What the forge said is recorded, so a run that
names no commit can go on while the forge is down, on what it approved before."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chatops.errors import ForgeError, LabelNotApprovedError, UnavailableError
from chatops.gitops.forges import Forge, PullRequest
from chatops.gitops.forges.labels import approval_problem, labeller_problem
from chatops.intents.loader import IntentFile

if TYPE_CHECKING:
    from chatops.application.caller import Caller
    from chatops.application.context import Context

#: How the notes of a run decided without the forge end (the run's log says so too).
APPROVAL_FALLBACK = " (the forge did not answer)"
#: How far the forge's clock and this host's may differ: a head seen at T counts as
#: pushed by T plus this.
CLOCK_SKEW = timedelta(seconds=60)


async def approval(ctx: Context, intent: IntentFile, full: str,
                   caller: Caller | None = None, notes: list[str] | None = None
                   ) -> PullRequest | None:
    """Refuse unless the forge says a pull request merged ``full`` with each label the
    intent needs, added by someone allowed to (``labelled``); or, without a forge, unless
    every label is among the approved labels. With neither configured, an operator on the
    host approves by running it. With ``notes``, a forge that does not answer is not a
    refusal when it approved ``full`` before (what it said then is recorded): a note says
    so."""
    base = ctx.runtime.settings
    if ctx.forge is None:
        if not ctx.rules.labels and caller is not None and caller.local:
            return None
        if not ctx.rules.labels:
            raise UnavailableError("no approved labels are configured (set APPROVED_LABEL "
                                   "or CHATOPS_APPROVED_LABELS)", intent=intent.name)
        for doc in intent.documents:
            if doc.label_required not in ctx.rules.labels:
                raise LabelNotApprovedError(
                    f"intent requires label {doc.label_required!r}, which is not among "
                    "the approved labels", intent=intent.name)
        return None
    store = ctx.runtime.store
    labels = sorted({doc.label_required for doc in intent.documents})
    try:
        pr = await ctx.forge.merged_pull_request(full, base.deploy_branch)
        for doc in intent.documents:
            problem = approval_problem(pr, doc.label_required, base.deploy_branch, full)
            if problem:
                raise LabelNotApprovedError(problem, intent=intent.name)
            assert pr is not None  # noqa: S101 - approval_problem says so otherwise
            problem = await labelled(ctx, ctx.forge, pr, doc.label_required,
                                     rules=tuple(doc.label_by) or ctx.rules.label_by,
                                     self_approve=doc.self_approve)
            if problem:
                raise LabelNotApprovedError(problem, intent=intent.name)
    except ForgeError as exc:  # the forge is down: what it said of this commit before
        recorded = store.recorded_approval(full) if notes is not None else None
        if recorded is None or notes is None:
            raise
        pr = PullRequest.from_dict(recorded[0])
        shown = set(recorded[0].get("verified") or ())
        for label in labels:
            problem = approval_problem(pr, label, base.deploy_branch, full) or (
                None if label in shown else f"{exc.message}, and it never showed who "
                f"added the label {label!r} to pull request #{pr.number}")
            if problem:
                raise LabelNotApprovedError(problem, intent=intent.name) from None
        notes.append(f"{exc.message}: the approval recorded at {recorded[1]} is "
                     f"used{APPROVAL_FALLBACK}")
        return pr
    if pr is not None:
        before = store.recorded_approval(full)
        shown = set(before[0].get("verified") or ()) if before else set()
        store.record_approval(full, {**pr.as_dict(), "verified": sorted(shown | set(labels))})
    return pr


async def labelled(ctx: Context, forge: Forge, pr: PullRequest, label: str, *,
                   rules: tuple[str, ...] | None, self_approve: bool) -> str | None:
    """Why ``label`` on ``pr`` was not added by someone allowed to (``rules``: the
    intent's ``label_by``, else the settings'; None: anyone), or None. An approval is
    read from the forge once per pull request, head, label and rules; a refusal is read
    again next time (the label may have been added again since)."""
    if rules is None:
        return None
    key = (pr.number, pr.head, label, rules, self_approve)
    if key in ctx._labelled:
        return None
    # A head chatops saw in a pull request event was pushed by then (give or take the
    # two clocks): the forge need not be asked when. If that bound makes the label look
    # older than the push, the forge is asked after all.
    seen = ctx.runtime.store.head_seen(pr.number, pr.head)
    history = await forge.label_history(pr, None if seen is None else seen + CLOCK_SKEW)
    problem = await labeller_problem(forge, pr, history, label, rules=rules,
                                     self_approve=self_approve, granted=ctx._granted)
    if problem is not None and not history.from_forge:
        history = await forge.label_history(pr)
        problem = await labeller_problem(forge, pr, history, label, rules=rules,
                                         self_approve=self_approve, granted=ctx._granted)
    if problem is None:
        ctx._labelled[key] = None
        while len(ctx._labelled) > 256:
            ctx._labelled.popitem(last=False)
    return problem
