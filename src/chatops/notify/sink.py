"""Queue each run's outcome in the outbox, for every configured target."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chatops import events as ev
from chatops.notify.outbox import Outbox
from chatops.notify.targets import RunNotice, Target
from chatops.store.sqlite import RunStore


class OutboxSink:
    """A run-event sink that queues each run's outcome for every target that wants it."""

    def __init__(self, outbox: Outbox, targets: Mapping[str, Target],
                 store: RunStore | None = None, public_url: str | None = None) -> None:
        self.public_url = public_url
        self.outbox = outbox
        self.targets = targets
        self.store = store
        self._started: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        if event.kind == ev.RUN_STARTED:
            self._started[event.run_id] = time.monotonic()
        elif event.kind == ev.CANARY_WAITING:
            self._queue(event, "waiting", "run_waiting", started=self._started.get(
                event.run_id))
        elif event.kind == ev.RUN_FINISHED and not event.data.get("refused"):
            self._queue(event, event.data["status"], "run_finished",
                        started=self._started.pop(event.run_id, None))

    def _queue(self, event: Any, status: str, kind: str, *, started: float | None) -> None:
        store = self.store

        def load() -> dict[str, Any]:
            if store is None:
                return {"id": event.run_id, "intent": event.intent, "status": status}
            record = store.get_run(event.run_id).as_dict()
            record["status"] = status  # a waiting canary's run is still running
            return record

        notice = RunNotice(
            run_id=event.run_id, intent=event.intent, status=status,
            reason=event.data.get("reason"),
            duration=time.monotonic() - started if started is not None else None,
            plan=(store.plan_of(event.run_id) if store is not None else None) or {},
            link=(f"{self.public_url}/runs/{event.run_id}" if self.public_url
                  else f"run {event.run_id}"),
            load=load)
        for name, target in self.targets.items():
            payload = target.for_run(notice)
            if payload is not None:
                self.outbox.put(name, kind, payload)
