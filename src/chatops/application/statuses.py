"""Commit statuses: the forge shows what runs where. A run of a commit is
``chatops/deploy/INTENT`` pending when accepted, then success or failure with the run's
reason and a link to its page. A forge that refuses is said in the run's log, never a
reason for the run to fail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatops.errors import ChatopsError
from chatops.gitops.forges import Forge
from chatops.store.database import utcnow
from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore

CONTEXT = "chatops/deploy/{intent}"


async def report_status(forge: Forge, store: RunStore,
                        ended: Callable[[str], Awaitable[RunRecord]], run_id: str, *,
                        intent: str, sha: str, public_url: str | None) -> None:
    """Pending now, the outcome when the run ends."""
    context = CONTEXT.format(intent=intent)
    url = f"{public_url.rstrip('/')}/runs/{run_id}" if public_url else None
    try:
        await forge.set_status(sha, context, "pending", f"run {run_id} accepted", url)
        record = await ended(run_id)
        state = "success" if record.status is RunStatus.succeeded else "failure"
        why = record.reason or str(record.status)
        await forge.set_status(sha, context, state,
                               f"run {run_id} {str(record.status).replace('_', ' ')}: {why}",
                               url)
    except ChatopsError as exc:
        store.add_line(run_id, utcnow(), "chatops", f"commit status not set on "
                       f"{forge.forge}: {exc.message}")
