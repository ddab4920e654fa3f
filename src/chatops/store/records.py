"""Plain records read back from the run history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    rollback_failed = "rollback_failed"
    interrupted = "interrupted"
    awaiting_approval = "awaiting_approval"  # held until enough approvers say yes
    denied = "denied"  # an approver said no: nothing was changed
    expired = "expired"  # its approvals did not come in time: nothing was changed
    superseded = "superseded"  # a newer run of the intent came while it waited

    @property
    def final(self) -> bool:
        return self not in (RunStatus.queued, RunStatus.running, RunStatus.awaiting_approval)


@dataclass
class RunRecord:
    id: str
    intent: str
    trigger: str
    actor: str
    client: str
    sha: str | None
    status: RunStatus
    reason: str | None
    stacks: list[str]
    dry_run: bool
    changed: bool
    created_at: str
    started_at: str | None
    ended_at: str | None
    pid: int | None
    host: str | None
    pull_request: dict[str, Any] | None = None
    parent_id: str | None = None
    rollback_of: str | None = None  # the commit this run went back from (a rollback)
    traffic: dict[str, Any] | None = None  # blue-green: slots, switch, drain, failures
    approval: dict[str, Any] | None = None  # what it needs, until when, and who voted
    steps: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if not self.started_at or not self.ended_at:
            return None
        return (datetime.fromisoformat(self.ended_at)
                - datetime.fromisoformat(self.started_at)).total_seconds()

    def as_dict(self, detail: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "intent": self.intent, "trigger": self.trigger, "actor": self.actor,
            "client": self.client, "sha": self.sha, "status": str(self.status),
            "reason": self.reason, "stacks": self.stacks, "dry_run": self.dry_run,
            "changed": self.changed, "created_at": self.created_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "duration_seconds": self.duration,
            "pull_request": self.pull_request,
            "parent_id": self.parent_id,
            "rollback_of": self.rollback_of,
            "traffic": self.traffic,
        }
        if self.approval is not None:
            body["approval"] = self.approval
        if detail:
            body.update(steps=self.steps, gates=self.gates, snapshots=self.snapshots)
        return body


def traffic_summary(traffic: dict[str, Any] | None) -> str:
    """One line on what a blue-green run did to traffic, for tables and chat."""
    if not traffic or not traffic.get("before"):
        return ""
    canary = traffic.get("canary")
    prefix = ""
    if canary:
        steps = len(canary.get("steps") or [])
        waiting = {"promote": ", waiting for 'chatops promote'",
                   "traffic": ", waiting for traffic"}.get(canary.get("waiting") or "", "")
        prefix = f"canary at {canary.get('weight', 0)}% (step {canary.get('step', 0)}/" \
            f"{steps}{waiting})"
        if canary.get("last"):
            prefix += f": {canary['last']}"
        if not traffic.get("switched"):
            return prefix
        prefix += " | "
    return prefix + _switch_summary(traffic)


def _switch_summary(traffic: dict[str, Any]) -> str:
    before, after = traffic.get("before"), traffic.get("after")
    target = traffic.get("target") or after
    if not traffic.get("switched"):
        return f"{before} kept serving; {target} never received traffic"
    if traffic.get("switched_back"):
        text = (f"{before} → {target} → back to {after} in "
                f"{traffic.get('switch_back_ms', 0):g} ms")
    else:
        text = f"{before} → {after}"
        at = str(traffic.get("switched_at") or "")[11:23]
        if at:
            text += f" at {at}"
        if traffic.get("healthy_to_switched_ms") is not None:
            text += f" ({traffic['healthy_to_switched_ms']:g} ms after it passed its gates)"
    if traffic.get("drain_seconds") is not None:
        text += f"; drained in {traffic['drain_seconds']:.2f}s"
        if traffic.get("drain_left"):
            text += f" ({traffic['drain_left']} cut)"
    if traffic.get("failed_requests") is not None:
        text += f"; {traffic['failed_requests']} failed request(s) by the proxy"
    standby = traffic.get("standby") or {}
    if standby.get("slot"):
        text += f"; standby {standby['slot']} until {str(standby.get('until'))[11:16]} UTC"
    return text
