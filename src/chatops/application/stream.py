"""The application's typed event stream, for whoever subscribes.

Every run's events (``runner.events``: queued, started, step, command, output line, gate,
rollback, finished) pass through one ``EventStream``, a run-event sink; the SSE log of
``GET /runs/{id}/log`` subscribes to it instead of polling, and the chat and web surfaces
subscribe the same way. A subscriber that falls behind loses its oldest events, never the
run: everything is in the run history too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from chatops import events as ev
from chatops.store.sqlite import RunStore

QUEUE_SIZE = 1000


class Subscription:
    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        self.queue: asyncio.Queue[ev.Event] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, event: ev.Event) -> None:
        if self.run_id is not None and event.run_id != self.run_id:
            return
        if self.queue.full():
            self.queue.get_nowait()  # the oldest goes; the history keeps it
        self.queue.put_nowait(event)

    async def next(self, timeout: float | None = None) -> ev.Event | None:
        """The next event, or None when ``timeout`` passes first."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class EventStream:
    """A run-event sink that hands every event to each subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def __call__(self, event: ev.Event) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    @contextlib.contextmanager
    def subscribe(self, run_id: str | None = None) -> Iterator[Subscription]:
        """Events of run ``run_id`` (or of every run) from now until the block ends."""
        subscription = Subscription(run_id)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)


async def follow_run(store: RunStore, stream: EventStream, run_id: str,
                     gone: Callable[[], Awaitable[bool]], after: int = 0, *,
                     changes: bool = False) -> AsyncIterator[tuple[str, Any]]:
    """A run's output as it comes: ``("line", line)`` for every line so far and each new
    one, then ``("outcome", {"status", "reason"})`` once it ends. Stops early when
    ``gone()`` says the reader left; ``after``: the lines the reader has already. With
    ``changes``, ``("changed", None)`` whenever the run moved (a step, a gate, its
    status) and once more just before the outcome, for a page that shows the whole
    run. Every surface that shows a live log reads this."""
    last = after
    # Subscribed before reading the history, so no line falls in between.
    with stream.subscribe(run_id) as moved:
        while True:
            for line in store.lines(run_id, after=last):
                last = line["id"]
                yield "line", line
            record = store.get_run(run_id, detail=False)
            if record.status.final:
                for line in store.lines(run_id, after=last):
                    last = line["id"]
                    yield "line", line
                if changes:
                    yield "changed", None
                yield "outcome", {"status": str(record.status), "reason": record.reason}
                return
            if await gone():
                return
            # The next event of this run wakes us; a run of another process (the CLI's
            # own) shows within the second.
            event = await moved.next(timeout=1.0)
            if changes and (event is None or event.kind != ev.OUTPUT):
                yield "changed", None
