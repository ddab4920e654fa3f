"""Runtime alerts, grouped and rate-limited: the watcher's rules on events as the Engine
API gives them (the real stream is read in tests/docker/test_drift.py)."""

from __future__ import annotations

import asyncio

from chatops.application.watching import FLAP, MANY_STACKS, QUIET, Watcher
from chatops.engine.fake import FakeEngine
from chatops.masking import Masker


class Queue:
    def __init__(self, held: set[str] | None = None) -> None:
        self.held = held or set()

    def busy(self, stacks: list[str]) -> str | None:
        return "held" if set(stacks) & self.held else None


def event(action: str, project: str, cid: str, *, nano: int = 1, **attrs: str) -> dict:
    return {"Type": "container", "Action": action, "timeNano": nano,
            "Actor": {"ID": cid, "Attributes": {
                "com.docker.compose.project": project, "com.docker.compose.service": "web",
                "name": f"{project}-web-1", **attrs}}}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def watcher(held: set[str] | None = None, engine: FakeEngine | None = None):
    told: list[tuple[str, str]] = []
    clock = Clock()
    w = Watcher(engine or FakeEngine(), Queue(held),  # type: ignore[arg-type]
                lambda message, kind: told.append((message.text, kind)),
                Masker(["s3cret-value"]), clock=clock)
    return w, told, clock


def test_a_death_is_told_once_with_masked_logs_and_its_recovery() -> None:
    engine = FakeEngine(log_lines={"c1": ["booting", "password=s3cret-value", "bye"]})
    w, told, _ = watcher(engine=engine)
    w.handle(event("die", "media", "c1", exitCode="137"))
    w.handle(event("die", "media", "c1", exitCode="137"))  # read again after a reconnect
    asyncio.run(w.flush())
    (text, kind), = told
    assert kind == "containers"
    assert "DOWN: stack media on this host: 1 container(s) failed" in text
    assert "media-web-1 (web) died (exit code 137)" in text
    assert "password=***" in text
    assert "s3cret" not in text
    w.handle(event("start", "media", "c1", nano=2))
    asyncio.run(w.flush())
    assert "UP AGAIN: stack media on this host" in told[-1][0]


def test_a_stack_a_run_holds_is_not_alerted() -> None:
    w, told, _ = watcher(held={"media"})
    w.handle(event("die", "media", "c1", exitCode="0"))
    w.handle(event("die", "media-web-blue", "c2", exitCode="0"))  # its blue-green slot
    asyncio.run(w.flush())
    assert told == []


def test_many_stacks_at_once_are_one_message_and_a_stack_is_told_once_per_quiet() -> None:
    w, told, clock = watcher()
    for i in range(MANY_STACKS + 2):
        w.handle(event("die", f"s{i}", f"c{i}", nano=i + 1, exitCode="255"))
    asyncio.run(w.flush())
    (text, _), = told
    assert f"{MANY_STACKS + 2} stacks at once" in text
    w.handle(event("oom", "s0", "c0", nano=50))
    asyncio.run(w.flush())
    assert len(told) == 1  # within QUIET of the last message about s0: held back
    clock.now += QUIET
    asyncio.run(w.flush())
    assert len(told) == 2
    assert "stack s0 on this host" in told[-1][0]
    assert "s0-web-1 (web) was OOM-killed" in told[-1][0]


def test_a_crash_loop_is_told() -> None:
    w, told, clock = watcher()
    for i in range(FLAP[0] + 1):
        clock.now += 1
        w.handle(event("start", "media", "c1", nano=100 + i))
    asyncio.run(w.flush())
    assert "restarted 4 times in 10 minutes (a crash loop)" in told[-1][0]
