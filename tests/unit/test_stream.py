"""The application's event stream: each subscriber gets its run's events, in order."""

from __future__ import annotations

import asyncio

from chatops import events as ev
from chatops.application import stream as st


def event(kind: str, run_id: str, n: int = 0) -> ev.Event:
    return ev.Event(kind, run_id, "deploy_web", {"n": n})


def test_a_subscriber_gets_only_its_runs_events_in_order() -> None:
    async def scenario() -> list[tuple[str, str]]:
        stream = st.EventStream()
        with stream.subscribe("a") as only_a, stream.subscribe() as every:
            stream(event(ev.RUN_STARTED, "a"))
            stream(event(ev.RUN_STARTED, "b"))
            stream(event(ev.RUN_FINISHED, "a"))
            got = [await only_a.next(0.1), await only_a.next(0.1), await only_a.next(0.05)]
            assert every.queue.qsize() == 3
        stream(event(ev.OUTPUT, "a"))  # nobody listens any more: nothing is kept
        return [(e.kind, e.run_id) for e in got if e is not None]

    assert asyncio.run(scenario()) == [(ev.RUN_STARTED, "a"), (ev.RUN_FINISHED, "a")]


def test_a_slow_subscriber_loses_its_oldest_events_not_the_newest(monkeypatch) -> None:
    monkeypatch.setattr(st, "QUEUE_SIZE", 3)

    async def scenario() -> list[int]:
        stream = st.EventStream()
        with stream.subscribe() as slow:
            for n in range(5):
                stream(event(ev.OUTPUT, "a", n))
            return [(await slow.next(0.1)).data["n"] for _ in range(3)]  # type: ignore[union-attr]

    assert asyncio.run(scenario()) == [2, 3, 4]
