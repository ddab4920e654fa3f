"""Executor decisions, against the fake engine and clock (the real ones: tests/docker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from chatops.clock import FakeClock
from chatops.engine.base import CommandResult, ContainerState
from chatops.engine.fake import FakeEngine
from chatops.intents.loader import parse_intent
from chatops.locks import Locks
from chatops.planning import PlanContext, build_plan
from chatops.repo import GitOpsRepo
from chatops.runner.executor import Executor, RunRequest
from chatops.store.records import RunStatus
from chatops.store.sqlite import RunStore

OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def container(image_id: str, state: str = "running", restarts: int = 0) -> ContainerState:
    return ContainerState(id="c" * 64, name="media-web-1", service="web", image_ref="app:v2",
                          image_id=image_id, state=state, health=None,
                          restart_count=restarts, exit_code=0 if state == "running" else 1)


class World:
    def __init__(self, tmp_path: Path, intent: str, *, fail: str | None = None,
                 after_up: str = "running") -> None:
        self.compose = tmp_path / "repo" / "stacks" / "media" / "docker-compose.yml"
        self.compose.parent.mkdir(parents=True)
        self.compose.write_text("services: {web: {image: app:v2}}\n")
        self.engine = FakeEngine(handler=self.handle, images={"app:v2": NEW, OLD: OLD})
        self.engine.containers_by_project["media"] = [container(OLD)]
        self.fail = fail
        self.after_up = after_up
        self.ups = 0
        self.store = RunStore(tmp_path / "state" / "db.sqlite3")
        self.events: list[str] = []
        self.executor = Executor(engine=self.engine, store=self.store,
                                 locks=Locks(tmp_path / "locks"), clock=FakeClock(),
                                 sinks=[lambda e: self.events.append(e.kind)])
        doc = parse_intent(intent, label="i.yaml", name="i")
        self.plan = build_plan(doc, PlanContext(repo=GitOpsRepo(tmp_path / "repo"),
                                                stable_for=0.5))

    def handle(self, engine: FakeEngine, argv: tuple[str, ...]) -> CommandResult | None:
        if "config" in argv:
            body = {"name": "media", "services": {"web": {"image": "app:v2"}}}
            return CommandResult(argv, 0, 0.01, tail=[json.dumps(body)])
        if self.fail and self.fail in argv:
            return CommandResult(argv, 1, 0.01, tail=[f"{self.fail} went wrong"])
        if "up" in argv:
            self.ups += 1
            image = NEW if self.ups == 1 else engine.images["app:v2"]
            state = self.after_up if self.ups == 1 else "running"
            engine.containers_by_project["media"] = [container(image, state)]
        return None

    def run(self) -> tuple[RunStatus, str | None]:
        outcome = asyncio.run(self.executor.execute(RunRequest(self.plan)))
        return outcome.status, outcome.reason


ROLLOUT = "label_required: l\naction: rollout\nstack: media\nservice: web\n"


def test_success_runs_config_pull_up_and_records_snapshots(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT)
    assert world.run() == (RunStatus.succeeded, None)
    verbs = [next(a for a in argv if a in ("config", "pull", "up")) for argv in world.engine.calls]
    assert verbs == ["config", "pull", "up"]
    (record,) = world.store.list_runs()
    kinds = [s["kind"] for s in world.store.get_run(record.id).snapshots]
    assert sorted(kinds) == ["after", "before"]


def test_failed_pull_changes_nothing_and_does_not_roll_back(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT, fail="pull")
    status, reason = world.run()
    assert status is RunStatus.failed
    assert "nothing was changed" in (reason or "")
    assert world.engine.tags == []
    assert world.ups == 0


def test_crash_after_up_restores_the_snapshot_image_under_the_compose_reference(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, ROLLOUT, after_up="exited")
    status, reason = world.run()
    assert status is RunStatus.rolled_back, reason
    assert world.engine.tags == [(OLD, "app:v2")]
    restore = world.engine.calls[-1]
    assert restore[-5:] == ("-d", "--no-deps", "--scale", "web=1", "web")
    assert "rollback_started" in world.events


def test_no_rollback_when_disabled(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT + "rollback: false\n", after_up="exited")
    status, reason = world.run()
    assert status is RunStatus.failed
    assert "rollback is off" in (reason or "")
    assert world.engine.tags == []


def test_rollback_fails_when_the_old_image_is_gone(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT, after_up="exited")
    del world.engine.images[OLD]
    status, reason = world.run()
    assert status is RunStatus.rollback_failed
    assert "no longer on this host" in (reason or "")


def test_a_broken_sink_never_breaks_a_deploy(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT)

    def broken(event: object) -> None:
        raise RuntimeError("sink exploded")

    world.executor.sinks.append(broken)
    assert world.run()[0] is RunStatus.succeeded


def test_unexpected_errors_still_close_the_record(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT)

    async def explode(*args: object, **kw: object) -> list[ContainerState]:
        raise RuntimeError("surprise")

    world.engine.containers = explode  # type: ignore[method-assign]
    status, reason = world.run()
    assert status is RunStatus.failed
    assert reason == "internal error: RuntimeError: surprise"
    (record,) = world.store.list_runs()
    assert record.status == "failed"
    assert record.ended_at is not None


def test_engine_unavailable_fails_with_its_message(tmp_path: Path) -> None:
    world = World(tmp_path, ROLLOUT)
    world.engine.available = False
    status, reason = world.run()
    assert status is RunStatus.failed
    assert "switched off" in (reason or "")


@pytest.mark.parametrize("restarts", [1, 3])
def test_restarting_container_fails_the_gate(tmp_path: Path, restarts: int) -> None:
    world = World(tmp_path, ROLLOUT)
    calls = {"n": 0}
    real = world.engine.containers

    async def flapping(project: str, services=None) -> list[ContainerState]:
        found = await real(project, services)
        calls["n"] += 1
        if world.ups == 1 and calls["n"] > 2:
            return [container(NEW, restarts=restarts)]
        return found

    world.engine.containers = flapping  # type: ignore[method-assign]
    status, reason = world.run()
    assert status is RunStatus.rolled_back
    assert "restarted" in (reason or "")
