"""Queue each run's outcome in the outbox, for every configured target."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chatops.intents.model import NOTIFY_EVENTS, STATUS_EVENTS
from chatops.notify.kuma import TARGET, push_payload
from chatops.notify.messages import run_message
from chatops.notify.outbox import Deliverer, Outbox
from chatops.runner import events as ev
from chatops.store.sqlite import RunStore


class OutboxSink:
    """A run-event sink that queues each run's outcome for every configured target."""

    def __init__(self, outbox: Outbox, targets: Mapping[str, Deliverer],
                 store: RunStore | None = None, public_url: str | None = None) -> None:
        self.public_url = public_url
        self.outbox = outbox
        self.targets = targets
        self.store = store
        self._started: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        if event.kind == ev.RUN_STARTED:
            self._started[event.run_id] = time.monotonic()
        elif event.kind == ev.RUN_FINISHED and not event.data.get("refused"):
            started = self._started.pop(event.run_id, None)
            duration = time.monotonic() - started if started is not None else None
            if TARGET in self.targets:
                self.outbox.put(TARGET, "run_finished", push_payload(
                    intent=event.intent, status=event.data["status"],
                    reason=event.data.get("reason"), duration=duration, run_id=event.run_id))
            plan = (self.store.plan_of(event.run_id) if self.store is not None else None) or {}
            wanted = set(plan.get("notify") or [])
            on = set(plan.get("notify_on") or NOTIFY_EVENTS)
            chats = [name for name, target in self.targets.items()
                     if name.startswith("apprise-")
                     and (getattr(target, "tag", None) is None
                          or getattr(target, "tag", None) in wanted)]
            if STATUS_EVENTS.get(event.data["status"]) not in on:
                chats = []
            if chats and self.store is not None:
                record = self.store.get_run(event.run_id).as_dict()
                first = (plan.get("steps") or [{}])[0]
                message = run_message(record, action=str(first.get("action", "run")),
                                      stack=", ".join(record.get("stacks") or []) or "?",
                                      link=(f"{self.public_url}/runs/{event.run_id}"
                                            if self.public_url else f"run {event.run_id}"))
                for name in chats:
                    self.outbox.put(name, "run_finished", message.payload())
