"""The container gate's stability window counts from when the containers started (the
engine's own start time), not from when a poll first saw them running."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from chatops.clock import FakeClock
from chatops.engine.base import ContainerState
from chatops.health.container import ContainerCheck, run
from chatops.health.registry import GateContext


class Engine:
    """The one engine call the gate makes: the step's containers, as the engine says."""

    def __init__(self, started_at: str) -> None:
        self.started_at = started_at
        self.asked = 0

    async def containers(self, project: str, services: list[str]) -> list[ContainerState]:
        self.asked += 1
        return [ContainerState(id="c1", name="web-1", service="web", image_ref="app:v2",
                               image_id="sha256:1", state="running", health=None,
                               restart_count=0, exit_code=0, started_at=self.started_at)]


def gate(engine: Engine, clock: FakeClock) -> Any:
    ctx = GateContext(clock=clock, engine=engine, description="web is up",  # type: ignore[arg-type]
                      since=clock.now(), project="p", services=["web"],
                      expected={"web": 1})
    return asyncio.run(run(ContainerCheck(container="web", stable_for=0.5, within=10), ctx))


def test_containers_that_started_before_the_gate_count_that_time_toward_the_window() -> None:
    clock = FakeClock()
    started = (clock.now() - timedelta(seconds=0.4)).isoformat().replace("+00:00", "Z")
    result = gate(Engine(started), clock)
    assert result.ok, result.detail
    assert clock.slept < 0.2  # the 0.1 s left, at the poll's pace: not the whole 0.5 s


def test_containers_that_started_long_ago_pass_at_the_first_look() -> None:
    clock = FakeClock()
    engine = Engine((clock.now() - timedelta(hours=2)).isoformat())
    result = gate(engine, clock)
    assert result.ok, result.detail
    assert (engine.asked, clock.slept) == (1, 0.0)


def test_without_a_start_time_the_window_counts_from_the_first_look() -> None:
    clock = FakeClock()
    result = gate(Engine(""), clock)
    assert result.ok, result.detail
    assert clock.slept >= 0.499  # the whole window (to the millisecond)
