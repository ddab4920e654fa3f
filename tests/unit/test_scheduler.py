"""Schedules fire on an injected clock: once per due time, never overlapping, missed runs
skipped or run once as configured."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatops.clock import FakeClock
from chatops.errors import IntentError
from chatops.intents.loader import parse_intent
from chatops.runner.scheduler import Scheduler

SUNDAY_0159 = datetime(2026, 11, 29, 1, 59, 0, tzinfo=UTC)  # a Sunday


class Runs:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.busy: set[str] = set()

    async def start(self, name: str) -> str:
        self.started.append(name)
        return f"run-{len(self.started)}"

    def running(self, name: str) -> bool:
        return name in self.busy


def make(tmp_path: Path, clock: FakeClock, **kw: str) -> Scheduler:
    sched = Scheduler(tmp_path / "s.sqlite3", clock, **kw)
    sched.load({"weekly": "0 2 * * 0"})
    return sched


def advance(clock: FakeClock, seconds: float) -> None:
    asyncio.run(clock.sleep(seconds))


def test_fires_once_at_its_time(tmp_path: Path) -> None:
    clock, runs = FakeClock(SUNDAY_0159), Runs()
    sched = make(tmp_path, clock)
    assert asyncio.run(sched.tick(runs.start, runs.running)) == []
    advance(clock, 61)
    assert asyncio.run(sched.tick(runs.start, runs.running)) == [("weekly", "started")]
    assert asyncio.run(sched.tick(runs.start, runs.running)) == []
    assert runs.started == ["weekly"]
    (state,) = sched.states()
    assert (state.last_run_id, state.next_fire.day) == ("run-1", 6)  # next Sunday


def test_never_overlaps_itself(tmp_path: Path) -> None:
    clock, runs = FakeClock(SUNDAY_0159), Runs()
    sched = make(tmp_path, clock)
    runs.busy.add("weekly")
    advance(clock, 61)
    assert asyncio.run(sched.tick(runs.start, runs.running)) == [
        ("weekly", "skipped: the previous run is still going")]
    assert runs.started == []


def test_missed_runs_are_skipped_by_default_and_recorded(tmp_path: Path) -> None:
    clock, runs = FakeClock(SUNDAY_0159), Runs()
    sched = make(tmp_path, clock)
    advance(clock, 3 * 7 * 86400)  # the service was down for three weeks
    ((_, decision),) = asyncio.run(sched.tick(runs.start, runs.running))
    assert decision.startswith("skipped: missed 2026-12-13 02:00")
    assert runs.started == []
    assert sched.states()[0].last_decision == decision


def test_missed_runs_can_run_once(tmp_path: Path) -> None:
    clock, runs = FakeClock(SUNDAY_0159), Runs()
    sched = make(tmp_path, clock, missed="run-once")
    advance(clock, 3 * 7 * 86400)
    decisions = asyncio.run(sched.tick(runs.start, runs.running))
    assert decisions == [("weekly", "started (missed while the service was down; "
                                    "policy run-once)")]
    assert runs.started == ["weekly"]
    assert asyncio.run(sched.tick(runs.start, runs.running)) == []


def test_time_zone(tmp_path: Path) -> None:
    clock, runs = FakeClock(datetime(2026, 11, 29, 0, 59, 0, tzinfo=UTC)), Runs()
    sched = make(tmp_path, clock, timezone="Europe/Berlin")  # 02:00 Berlin = 01:00 UTC
    advance(clock, 61)
    assert asyncio.run(sched.tick(runs.start, runs.running)) == [("weekly", "started")]


def test_reload_adds_changes_and_removes(tmp_path: Path) -> None:
    clock = FakeClock(SUNDAY_0159)
    sched = make(tmp_path, clock)
    sched.load({"weekly": "0 3 * * 0", "daily": "30 4 * * *"})
    assert [(s.intent, s.cron) for s in sched.states()] == [
        ("daily", "30 4 * * *"), ("weekly", "0 3 * * 0")]
    sched.load({"daily": "30 4 * * *"})
    assert [s.intent for s in sched.states()] == ["daily"]


def test_schedule_field_is_validated() -> None:
    base = "label_required: l\naction: rollout\nstack: s\n"
    assert parse_intent(base + "schedule: '0 2 * * 0'\n", label="i.yaml",
                        name="i").schedule == "0 2 * * 0"
    with pytest.raises(IntentError, match="expected a cron schedule"):
        parse_intent(base + "schedule: 'every sunday'\n", label="i.yaml", name="i")
    with pytest.raises(IntentError, match="set it once"):
        parse_intent(base + "schedule: '0 2 * * 0'\n---\n" + base + "schedule: '0 3 * * 0'\n",
                     label="i.yaml", name="i")


def test_schedules_command_lists_next_times(cli, gitops, monkeypatch) -> None:
    monkeypatch.setenv("CHATOPS_TIMEZONE", "Europe/Berlin")
    repo = gitops({"weekly.yaml": "label_required: l\naction: rollout\nstack: s\n"
                                  "schedule: '0 2 * * 0'\n",
                   "manual.yaml": "label_required: l\naction: rollout\nstack: s\n"})
    import json

    result = json.loads(cli("schedules", "--repo", str(repo), "--format", "json").out)
    assert result["timezone"] == "Europe/Berlin"
    (row,) = result["schedules"]
    assert row["intent"] == "weekly"
    assert datetime.fromisoformat(row["next"]).strftime("%a %H:%M") == "Sun 02:00"
