"""Intent to plan. Pure: the same intent and context always give the same plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatops.durations import format_duration
from chatops.intents.loader import IntentFile
from chatops.intents.model import (
    ROLLBACK_ACTIONS,
    RUNNING_ACTIONS,
    ContainerCheck,
    HttpCheck,
    IntentDoc,
    TcpCheck,
)
from chatops.planning import compose as c
from chatops.planning.steps import (
    IMAGE_ID,
    IMAGE_REF,
    REPLICAS,
    Command,
    Gate,
    Plan,
    RollbackPlan,
    StepPlan,
)
from chatops.repo import GitOpsRepo
from chatops.settings import DEFAULT_COMPOSE_COMMAND

DEFAULT_STABLE_FOR = 2.0


@dataclass(frozen=True)
class PlanContext:
    repo: GitOpsRepo
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    engine_command: tuple[str, ...] = ("docker",)
    rollback: bool = True  # False: --no-rollback


def build_plan(intent: IntentFile, ctx: PlanContext) -> Plan:
    count = len(intent.documents)
    steps = tuple(
        _plan_doc(doc, i, count, ctx.repo.compose_path(doc), ctx)
        for i, doc in enumerate(intent.documents, start=1)
    )
    return Plan(
        intent=intent.name,
        description=intent.description,
        depends_on=intent.depends_on,
        steps=steps,
    )


def _target(doc: IntentDoc) -> str:
    return f"service {doc.service}" if doc.service else f"every service of {doc.stack}"


def _commands(doc: IntentDoc, file: Path, ctx: PlanContext) -> tuple[Command, ...]:
    cmd, svc, t = ctx.compose_command, doc.service, doc.timeout
    what = _target(doc)
    match doc.action:
        case "rollout":
            return (
                Command(c.pull(cmd, file, svc), f"pull the images of {what}", t, False),
                Command(c.up(cmd, file, svc), f"recreate {what} on the new images", t, True),
            )
        case "pull":
            return (Command(c.pull(cmd, file, svc), f"pull the images of {what}", t, False),)
        case "up":
            return (Command(c.up(cmd, file, svc), f"create or update {what}", t, True),)
        case "scale":
            replicas = str(doc.replicas)
            return (Command(c.up(cmd, file, svc, scale=replicas),
                            f"scale {what} to {replicas} replicas", t, True),)
        case "restart":
            return (Command(c.restart(cmd, file, svc), f"restart {what}", t, True),)
        case "stop":
            return (Command(c.stop(cmd, file, svc), f"stop {what}", t, True),)
        case "down":
            return (Command(c.down(cmd, file),
                            f"remove the containers and networks of {doc.stack} "
                            "(volumes are kept)", t, True),)
        case "rollback":
            return (
                Command(c.tag(ctx.engine_command, IMAGE_ID, IMAGE_REF),
                        f"re-tag the images of {what} recorded by the last succeeded run",
                        t, True),
                Command(c.up(cmd, file, svc),
                        f"recreate {what} on those images (no pull)", t, True),
            )
    raise AssertionError(f"unplanned action {doc.action}")  # pragma: no cover


def _gates(doc: IntentDoc) -> tuple[Gate, ...]:
    gates: list[Gate] = []
    explicit = {g.container for g in doc.health if isinstance(g, ContainerCheck)}
    wants_running = doc.action in RUNNING_ACTIONS and not (
        doc.action == "scale" and doc.replicas == 0
    )
    if wants_running and (doc.service or doc.stack) not in explicit:
        implicit = ContainerCheck(
            container=doc.service or doc.stack, state="running", within=doc.timeout,
            stable_for=DEFAULT_STABLE_FOR,
        )
        gates.append(Gate(
            kind="container",
            description=(
                f"containers of {_target(doc)} are running, healthy where a healthcheck is "
                f"defined, and do not restart for {format_duration(DEFAULT_STABLE_FOR)}"
                f" (within {format_duration(doc.timeout)})"
            ),
            within=doc.timeout,
            check=implicit,
            implicit=True,
        ))
    gates.extend(_gate(check) for check in doc.health)
    return tuple(gates)


def _gate(check: HttpCheck | TcpCheck | ContainerCheck) -> Gate:
    if isinstance(check, HttpCheck):
        lo, hi = check.status
        status = str(lo) if lo == hi else f"{lo}-{hi}"
        body = f" with {check.body!r} in the body" if check.body is not None else ""
        return Gate(
            kind="http",
            description=(
                f"GET {check.http} answers {status}{body} within "
                f"{format_duration(check.within)} (every {format_duration(check.interval)}, "
                f"{format_duration(check.timeout)} per request)"
            ),
            within=check.within, check=check,
        )
    if isinstance(check, TcpCheck):
        return Gate(
            kind="tcp",
            description=f"TCP {check.tcp} accepts connections within "
            f"{format_duration(check.within)}",
            within=check.within, check=check,
        )
    return Gate(
        kind="container",
        description=(
            f"containers of service {check.container} are {check.state} and do not restart "
            f"for {format_duration(check.stable_for)} (within {format_duration(check.within)})"
        ),
        within=check.within, check=check,
    )


def _rollback(doc: IntentDoc, file: Path, ctx: PlanContext) -> RollbackPlan | None:
    if not ctx.rollback or not doc.rollback_enabled or doc.action not in ROLLBACK_ACTIONS:
        return None
    cmd, svc, t = ctx.compose_command, doc.service, doc.timeout
    what = _target(doc)
    if doc.action == "scale":
        return RollbackPlan(
            description=f"scale {what} back to its replica count before the run",
            commands=(Command(c.up(cmd, file, svc, scale=REPLICAS),
                              f"scale {what} back", t, True),),
        )
    return RollbackPlan(
        description=(
            f"put back the exact images {what} ran before the run (by image ID, "
            "recorded in the snapshot), without pulling, then check health again"
        ),
        commands=(
            Command(c.tag(ctx.engine_command, IMAGE_ID, IMAGE_REF),
                    "re-tag each snapshot image ID to its reference", t, True),
            Command(c.up(cmd, file, svc), f"recreate {what} on the restored images", t, True),
        ),
    )


def _plan_doc(
    doc: IntentDoc, index: int, count: int, file: Path, ctx: PlanContext
) -> StepPlan:
    commands = _commands(doc, file, ctx)
    mutating = any(cmd.mutating for cmd in commands)
    return StepPlan(
        index=index,
        count=count,
        action=doc.action,
        stack=doc.stack,
        service=doc.service,
        compose=file,
        label_required=doc.label_required,
        snapshot=mutating,
        commands=commands,
        gates=_gates(doc),
        rollback=_rollback(doc, file, ctx),
        timeout=doc.timeout,
        resolve=(
            f"the images of the last succeeded run of stack {doc.stack}, from the run history"
            if doc.action == "rollback" else None
        ),
    )
