"""Queue each run's outcome in the outbox, for every configured target."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chatops.notify.kuma import TARGET, push_payload
from chatops.notify.outbox import Deliverer, Outbox
from chatops.runner import events as ev


class OutboxSink:
    """A run-event sink that queues each run's outcome for every configured target."""

    def __init__(self, outbox: Outbox, targets: Mapping[str, Deliverer]) -> None:
        self.outbox = outbox
        self.targets = targets
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
