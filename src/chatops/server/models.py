"""Request and response bodies, for validation and for the OpenAPI document."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chatops.intents.model import NAME_RE, SERVICE_RE, STACK_RE


class RunBody(BaseModel):
    """The seed's ``{"name": "rollout_stack_media"}``, plus optional fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # The pattern is documented here and checked by the route (422 invalid_intent_name).
    name: str = Field(min_length=1, max_length=200, description="intent name (file stem)",
                      examples=["rollout_stack_media"],
                      json_schema_extra={"pattern": NAME_RE.pattern})
    dry_run: bool = Field(default=False, description="return the plan; change nothing")
    wait: bool = Field(default=False,
                       description="answer when the run ends: 200 only if it succeeded")
    sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$",
                            description="Git commit the run is for (recorded)")
    queue: bool = Field(default=True,
                        description="false: answer 409 instead of queueing on a busy stack")
    rollback: bool = Field(default=True, description="false: leave a failed change in place "
                           "(no automatic rollback)")

    def fingerprint(self) -> str:
        """What binds an ``Idempotency-Key`` to this request: its content, defaults
        filled in, so a retry matches and another request does not."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class RollbackBody(BaseModel):
    """Back to the images of a stack's previous good deploy."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stack: str = Field(pattern=STACK_RE.pattern[:-1] + r"(@[a-z0-9][a-z0-9_-]{0,62})?$",
                       description="the stack to roll back (STACK@HOST on a named host)")
    service: str | None = Field(default=None, pattern=SERVICE_RE.pattern,
                                description="one service; the whole stack when omitted")
    wait: bool = Field(default=False,
                       description="answer when the run ends: 200 only if it succeeded")
    queue: bool = Field(default=True,
                        description="false: answer 409 instead of queueing on a busy stack")


class VerdictBody(BaseModel):
    """An approver's word on a run that waits for approvals (the body is optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sha: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{7,40}$",
                            description="the commit being approved: refused unless it is "
                            "the run's")


class MaintenanceBody(BaseModel):
    """A blue-green service to pause (every request answered 503) or resume."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stack: str = Field(pattern=STACK_RE.pattern, description="the stack")
    service: str | None = Field(default=None, pattern=SERVICE_RE.pattern,
                                description="its blue-green service (default: the newest "
                                "one deployed)")


class MaintenanceAnswer(BaseModel):
    stack: str
    service: str
    paused: bool
    live: str | None
    driver: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    problems: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
    run: dict[str, Any] | None = None


class Links(BaseModel):
    self: str
    log: str


class RunAccepted(BaseModel):
    id: str
    status: str
    intent: str
    action: str
    stack: str
    stacks: list[str]
    links: Links
    reason: str | None = None
    idempotent_replay: bool = False


class PlanAnswer(BaseModel):
    dry_run: bool = True
    intent: str
    plan: dict[str, Any]


class RunList(BaseModel):
    runs: list[dict[str, Any]]
    limit: int
    offset: int
    next: str | None


class IntentSummary(BaseModel):
    name: str
    valid: bool
    description: str | None = None
    documents: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []


class Preview(BaseModel):
    number: int
    stack: str
    intent: str
    project: str
    head: str
    port: int
    hosts: list[str]
    url: str
    state: str
    reason: str
    created_at: str
    updated_at: str
    expires_at: str
    age_seconds: int
    containers: int
    running: int


class PreviewList(BaseModel):
    previews: list[Preview]


class PreviewsRemoved(BaseModel):
    pull_request: int
    removed: list[str]


class IntentList(BaseModel):
    intents: list[IntentSummary]


class IntentDetail(BaseModel):
    name: str
    description: str
    documents: list[dict[str, Any]]
    plan: dict[str, Any]


class ValidateAnswer(BaseModel):
    valid: bool
    name: str
    documents: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


class AuditList(BaseModel):
    records: list[dict[str, Any]]


class DriftItem(BaseModel):
    kind: str
    stack: str | None
    message: str


class DriftAnswer(BaseModel):
    clean: bool
    drift: list[DriftItem]
