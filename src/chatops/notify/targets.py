"""What a notification target is: one interface for a chat (through Apprise), an Uptime
Kuma push monitor, or anything else that hears about runs.

Each target says, for a finished run and for a window of security refusals, whether it
wants to hear of it and in what form (its payload, kept in the outbox), and delivers a
payload when the outbox asks. Nothing else looks at a target's kind or name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chatops.notify.messages import ChatMessage
from chatops.notify.outbox import Delivery


@dataclass
class RunNotice:
    """A finished run, as targets see it; the full record is read once, when asked."""

    run_id: str
    intent: str
    status: str
    reason: str | None
    duration: float | None
    plan: dict[str, Any]
    link: str
    load: Callable[[], dict[str, Any]] = field(repr=False, default=dict)
    _record: dict[str, Any] | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        if self._record is None:
            self._record = self.load()
        return self._record


class Target(Protocol):
    """A place messages go (its ``name`` is all the outbox stores of it)."""

    name: str

    def for_run(self, notice: RunNotice) -> dict[str, Any] | None:
        """The payload announcing this run, or None when this target does not want it."""

    def for_security(self, message: ChatMessage) -> dict[str, Any] | None:
        """The payload of a security digest, or None."""

    async def __call__(self, payload: dict[str, Any]) -> Delivery: ...
