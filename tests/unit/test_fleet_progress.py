"""The per-intent live rows of an orchestrated run follow the run's events."""

from __future__ import annotations

import io

from rich.console import Console

from chatops import events as ev
from chatops.cli.live import FleetProgress


def event(event_kind: str, intent: str, **data: object) -> ev.Event:
    return ev.Event(event_kind, "r1", intent, dict(data))


def test_rows_move_through_the_stages() -> None:
    out = io.StringIO()
    fleet = FleetProgress(["a", "b"], console=Console(file=out, force_terminal=False))
    with fleet:
        fleet(event(ev.RUN_STARTED, "a", stacks=["a"]))
        fleet(event(ev.COMMAND_STARTED, "a", argv=["docker", "compose", "pull"],
                    phase="deploy"))
        assert fleet.rows["a"] == "pulling"
        fleet(event(ev.COMMAND_STARTED, "a", argv=["docker", "compose", "up", "-d"],
                    phase="deploy"))
        assert fleet.rows["a"] == "recreating"
        fleet(event(ev.GATE_STARTED, "a", description="x", phase="deploy", kind="http"))
        assert fleet.rows["a"] == "gating"
        fleet(event(ev.ROLLBACK_STARTED, "a", reason="gate failed"))
        assert fleet.rows["a"] == "rolling back"
        fleet(event(ev.RUN_FINISHED, "a", status="rolled_back", reason="r"))
        assert fleet.rows["a"].endswith("rolled_back")
        assert fleet.rows["b"] == "waiting"
    assert "rolled_back" in out.getvalue()
