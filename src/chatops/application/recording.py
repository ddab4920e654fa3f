"""The use cases' shared state and their record: every decision each of them makes is
written to the audit trail here, accepted or refused, in the same words whichever
surface asked; a refusal is recorded once and marked ``audited`` so the surface does not
record it twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from chatops.application.caller import Auditor, Caller
from chatops.application.context import Context
from chatops.application.stream import EventStream
from chatops.errors import AuditUnavailableError, ChatopsError, ScopeDeniedError, StoreError
from chatops.notify.approvals import Announcer
from chatops.notify.messages import ChatMessage
from chatops.store.sqlite import RunStore

T = TypeVar("T")


class Announce(Protocol):
    def __call__(self, message: ChatMessage, event: str,
                 tags: Sequence[str] | None = None) -> None: ...


@dataclass
class Recording:
    ctx: Context
    audit: Auditor
    stream: EventStream = field(default_factory=EventStream)
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    announcers: list[Announcer] = field(default_factory=list)  # bots that ask for approvals
    parents: dict[str, asyncio.Task[Any]] = field(default_factory=dict)  # rolling deploys
    #: Tells every notification target something that is not a run's outcome (a fetch
    #: failing, its recovery, a preview): (message, event name, and the intent's notify
    #: tags when it is an intent's). Nothing, when none is configured.
    announce: Announce = field(default=lambda message, event, tags=None: None)

    def __post_init__(self) -> None:
        """What a use case holds beside the record is set up by it (``Runs``)."""

    def comment_extra(self, number: int) -> str:
        """What pull request ``number``'s comment shows below its plan (its previews)."""
        del number
        return ""

    @property
    def store(self) -> RunStore:
        return self.ctx.runtime.store

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

    def may_read(self, caller: Caller, what: str) -> None:
        """Refuse (and record) a caller without the ``read`` scope."""
        if not caller.may("read"):
            exc = ScopeDeniedError(f"{caller.name} lacks the 'read' scope ({what})")
            self._record(caller, "refused", exc.status, reason=f"{exc.code}: {exc.message}")
            exc.audited = True
            raise exc

    def spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def skipped(self, caller: Caller, name: str, why: str) -> None:
        self._record(caller, "skipped", 200, intent=name, reason=why)
