"""One place that builds the use cases for a process, the service's or the CLI's: the
run queue over the executor, the notification targets every run's outcome goes to, the
approval rules and the forge. Every surface gets the same wiring, so a run started from any
of them is announced the same way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from msgspec import Struct, field

from chatops import events as ev
from chatops.application.caller import Auditor
from chatops.application.context import Context, Rules
from chatops.application.deploys import Deploys
from chatops.application.metrics import Counts, Metrics
from chatops.application.queue import RunManager
from chatops.application.stream import EventStream
from chatops.engine.base import Engine
from chatops.gitops.forges import Forge
from chatops.notify.approvals import Announcer
from chatops.notify.configured import deliverers
from chatops.notify.messages import ChatMessage
from chatops.notify.outbox import Outbox
from chatops.notify.targets import Target
from chatops.repo import GitOpsRepo
from chatops.runtime import Runtime
from chatops.settings import Settings
from chatops.store.audit import AuditLog


class Notifications(Struct):
    """The targets configured on this host, and the outbox their messages go through."""

    targets: dict[str, Target] = field(default_factory=dict)
    outbox: Outbox | None = None
    public_url: str | None = None

    @classmethod
    def open(cls, runtime: Runtime, targets: dict[str, Target] | None = None
             ) -> Notifications:
        settings = runtime.settings
        found = dict(targets if targets is not None else deliverers(settings))
        outbox = Outbox(settings.paths.outbox) if found else None
        return cls(found, outbox, settings.public_url)

    def sinks(self, runtime: Runtime) -> list[ev.Sink]:
        """The run-event sinks that queue each run's outcome for every target."""
        if self.outbox is None or not self.targets:
            return []
        from chatops.notify.sink import OutboxSink  # noqa: PLC0415 - Apprise is heavy

        return [OutboxSink(self.outbox, self.targets, runtime.store, self.public_url)]

    async def deliver(self, budget: float) -> None:
        """One prompt try within ``budget`` seconds; what a slow or dead target refuses
        stays queued for the service (or the next run)."""
        if self.outbox is not None and self.targets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.deliver_due(self.targets), budget)

    def announce(self, message: ChatMessage, event: str,
                 tags: Sequence[str] | None = None) -> None:
        """``message`` to every target that takes chat messages (a fetch failing, ...);
        with ``tags`` (an intent's ``notify``), only the untagged targets and those."""
        if self.outbox is None:
            return
        for name, target in self.targets.items():
            tag = getattr(target, "tag", None)
            if tags is not None and tag is not None and tag not in tags:
                continue
            payload = target.for_security(message)
            if payload is not None:
                self.outbox.put(name, event, payload)

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()


def build_deploys(runtime: Runtime, repo: GitOpsRepo, *, engine: Engine, audit: Auditor,
                  rules: Rules, forge: Forge | None, notifications: Notifications,
                  sinks: Sequence[ev.Sink] = (), max_parallel: int = 2,
                  metrics: Counts | None = None,
                  announcers: Sequence[Announcer] = ()) -> Deploys:
    """The use cases over a run queue whose runs report to ``sinks`` and are announced
    to every notification target, counted in ``metrics`` (by default, not counted: only
    the service exports metrics)."""
    stream = EventStream()
    executor = runtime.executor(engine, [*sinks, *notifications.sinks(runtime), stream])
    queue = RunManager(executor, runtime.locks, metrics or Counts(), max_parallel)
    return Deploys(Context(runtime, repo, rules, queue, forge), audit, stream,
                   announcers=list(announcers), announce=notifications.announce)


class Services(Struct):
    """The wired application, as every surface of the service is built from it."""

    settings: Settings
    runtime: Runtime
    deploys: Deploys
    audit: AuditLog
    metrics: Metrics
    engine: Engine
    #: What the surfaces opened (the dashboard's user store), closed when the service stops.
    closing: list[Callable[[], None]] = field(default_factory=list)

    @property
    def forge(self) -> Forge | None:
        return self.deploys.ctx.forge

    def close(self) -> None:
        for close in self.closing:
            close()
        self.closing.clear()


__all__: list[Any] = ["Notifications", "Services", "build_deploys"]
