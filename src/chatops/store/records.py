"""Plain records read back from the run history."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from msgspec import Struct, field


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


class RunRecord(Struct):
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


