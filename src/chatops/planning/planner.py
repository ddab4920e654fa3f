"""Intent to plan. Pure: the same intent and context always give the same plan."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from msgspec import Struct, field
from msgspec.structs import replace

from chatops.durations import format_duration
from chatops.errors import HostError
from chatops.health import Check, kind_of
from chatops.health.container import ContainerCheck
from chatops.hosts import HostSpec, expand
from chatops.intents.loader import IntentFile
from chatops.intents.model import ROLLBACK_ACTIONS, RUNNING_ACTIONS, IntentDoc
from chatops.planning import compose as c
from chatops.planning import slots, swarm
from chatops.planning.steps import (
    REPLICAS,
    BlueGreenPlan,
    Command,
    Gate,
    Plan,
    RollbackPlan,
    StepPlan,
)
from chatops.planning.uses import Tree, files_used
from chatops.repo import GitOpsRepo
from chatops.settings import DEFAULT_COMPOSE_COMMAND

DEFAULT_STABLE_FOR = 2.0
RETAG = (
    "each image ID recorded in the snapshot is tagged again as the reference the compose "
    "file uses (Engine API), so Compose recreates from it without pulling"
)


class PlanContext(Struct, frozen=True):
    repo: GitOpsRepo
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    rollback: bool = True  # False: --no-rollback
    stable_for: float = DEFAULT_STABLE_FOR
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)  # CHATOPS_HOSTS
    state_dir: Path = Path("/var/lib/chatops")  # where a Swarm step writes its pins
    host: str | None = None  # a rolling deploy's host: every document goes there
    #: The repository's files (at the commit, or on disk) to list what the intent uses;
    #: None: not listed.
    tree: Tree | None = None


def host_of(doc: IntentDoc, ctx: PlanContext, intent: str) -> str | None:
    """The named host a document goes to (None: this machine's engine), checked."""
    host = ctx.host or doc.host
    if host is not None and host not in ctx.hosts:
        known = ", ".join(sorted(ctx.hosts)) or "none is defined"
        raise HostError(f"intent {intent!r} names host {host!r}, which CHATOPS_HOSTS does "
                        f"not define ({known})", field="host", intent=intent)
    return host


def _on_host(check: Check, values: dict[str, str], where: str, intent: str) -> Check:
    """A gate's address with the host's vars filled in (``http://${ADDR}:8080``)."""
    updates: dict[str, str] = {}
    for name in ("http", "tcp"):
        text = getattr(check, name, None)
        if isinstance(text, str) and "${" in text:
            try:
                updates[name] = expand(text, values, f"{where}.{name}")
            except ValueError as exc:
                raise HostError(str(exc), field=where, intent=intent) from None
    return check.model_copy(update=updates) if updates else check


def build_plan(intent: IntentFile, ctx: PlanContext) -> Plan:
    count = len(intent.documents)
    steps = tuple(
        _plan_doc(doc, i, count, ctx.repo.compose_path(doc), ctx, intent=intent.name)
        for i, doc in enumerate(intent.documents, start=1)
    )
    tags = tuple(dict.fromkeys(t for d in intent.documents for t in d.notify))
    events = tuple(dict.fromkeys(e for d in intent.documents for e in d.notify_on))
    uses = () if ctx.tree is None else tuple(files_used(intent, ctx.repo, ctx.tree))
    return Plan(
        intent=intent.name,
        description=intent.description,
        depends_on=intent.depends_on,
        steps=steps,
        notify=tags,
        notify_on=events,
        approval=None if intent.approval is None else intent.approval.model_dump(mode="json"),
        uses=uses,
        secrets=() if ctx.tree is None else secrets_used(ctx.tree, uses),
    )


def secrets_used(tree: Tree, uses: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The files among ``uses`` that hold secrets, and which (by name)."""
    from chatops.secrets.changes import describe_secrets  # noqa: PLC0415 - plans that list

    found = []
    for path in uses:
        what = describe_secrets(tree.read(path))
        if what:
            found.append((path, what))
    return tuple(found)


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
            return (Command(_restore_argv(cmd, file, svc),
                            f"recreate {what} on those images (no pull)", t, True),)
    raise AssertionError(f"unplanned action {doc.action}")  # pragma: no cover


def _restore_argv(cmd: tuple[str, ...], file: Path, service: str | None) -> tuple[str, ...]:
    if service:
        return c.restore(cmd, file, {service: REPLICAS})
    return c.compose(cmd, file, "up", "-d", "--no-deps", "--scale",
                     f"<service>={REPLICAS}", "...", "<each service>")


def _gates(doc: IntentDoc, stable_for: float) -> tuple[Gate, ...]:
    gates: list[Gate] = []
    explicit = {g.container for g in doc.health if isinstance(g, ContainerCheck)}
    wants_running = doc.action in RUNNING_ACTIONS and not (
        doc.action == "scale" and doc.replicas == 0
    )
    if wants_running and (doc.service or doc.stack) not in explicit:
        implicit = ContainerCheck(
            container=doc.service or doc.stack, state="running", within=doc.timeout,
            stable_for=stable_for,
        )
        gates.append(Gate(
            kind="container",
            description=(
                f"containers of {_target(doc)} are running, healthy where a healthcheck is "
                f"defined, and do not restart for {format_duration(stable_for)}"
                f" (within {format_duration(doc.timeout)})"
            ),
            within=doc.timeout,
            check=implicit,
            implicit=True,
        ))
    gates.extend(_gate(check) for check in doc.health)
    return tuple(gates)


def _gate(check: Check) -> Gate:
    kind = kind_of(check)
    return Gate(kind=kind.key, description=kind.describe(check), within=check.within,
                check=check)


def _rollback(doc: IntentDoc, file: Path, ctx: PlanContext) -> RollbackPlan | None:
    if not ctx.rollback or not doc.rollback_enabled or doc.action not in ROLLBACK_ACTIONS:
        return None
    cmd, svc, t = ctx.compose_command, doc.service, doc.timeout
    what = _target(doc)
    if doc.strategy == "blue-green" and svc is not None:
        return RollbackPlan(
            description="before the switch, stop the idle slot: the live slot never "
            "stopped serving; after it, switch traffic back to the old slot (still running "
            "while it drains), confirm through the proxy, then stop the idle slot",
            commands=(),
            regate=False,
        )
    if doc.strategy == "canary" and svc is not None and doc.traffic is not None:
        return RollbackPlan(
            description="send every request back to the stable slot (the canary's weight "
            "to 0; the stable slot never stopped serving), confirm through the proxy, then "
            "stop the canary slot",
            commands=(),
            regate=False,
        )
    if doc.strategy == "self-upgrade":
        return RollbackPlan(
            description="the helper container tags the image chatops ran before as "
            f"the reference the file uses and recreates {what} on it; the chatops that "
            "comes back closes the run as rolled back",
            commands=(Command(c.up(cmd, file, svc), f"recreate {what} on the old image",
                              t, True),),
            retag="the old chatops's image ID, tagged again as the reference the compose "
            "file uses (Engine API), so Compose recreates from it without pulling",
            regate=False,
        )
    if doc.action == "rollback":
        return RollbackPlan(
            description="if the older images fail their health gates, put back what ran "
            "before this rollback, then check health again",
            commands=(Command(_restore_argv(cmd, file, svc), f"recreate {what} as before", t,
                              True),),
            retag=RETAG,
        )
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
            Command(_restore_argv(cmd, file, svc),
                    f"recreate {what} on the restored images and replica counts; services "
                    "that had no container before are removed (rm --stop --force)", t, True),
        ),
        retag=RETAG,
    )


def _blue_green(doc: IntentDoc, file: Path, ctx: PlanContext
                ) -> tuple[tuple[Command, ...], BlueGreenPlan]:
    """The commands (for the idle slot, known at run time) and the phases after them."""
    from chatops.traffic import driver_kind  # noqa: PLC0415 - drivers import the planner's types

    traffic, service = doc.traffic, doc.service
    assert traffic is not None  # noqa: S101 - check_action_rules
    assert service is not None  # noqa: S101
    kind = driver_kind(traffic.driver)
    assert kind is not None  # noqa: S101 - the intent model knows every driver
    describe = kind.describe
    cmd, t = ctx.compose_command, doc.timeout
    idle = slots.slot_project(doc.stack, service, "<idle slot>")
    projects = {s: slots.slot_project(doc.stack, service, s) for s in ("blue", "green")}
    env = f"{slots.SLOT_VARIABLE}=<idle slot> {slots.PORT_VARIABLE}=<its port>"
    if doc.action == "rollback":
        commands: tuple[Command, ...] = (
            Command(slots.start(cmd, file, idle, service),
                    f"start the standby slot of {service} ({env}); when it is gone, "
                    "recreate the idle slot on the previous images instead (no pull)",
                    t, True),
        )
    else:
        commands = (
            Command(slots.pull(cmd, file, idle, service),
                    f"pull the image of {service} for the idle slot ({env})", t, False),
            Command(slots.up(cmd, file, idle, service),
                    f"start {service} in the idle slot; the live slot keeps serving", t,
                    True),
        )
    smoke = [f"smoke: {c.method} {c.path} answers "
             f"{c.status[0] if c.status[0] == c.status[1] else f'{c.status[0]}-{c.status[1]}'}"
             + (f" with {c.body!r}" if c.body else "") for c in traffic.smoke]
    where = traffic.listen or f"proxy host {traffic.proxy_host}"
    phases = (
        f"compose config of both slots first: refused when they would share a "
        f"container_name, a named volume or a published port"
        f"{' (allowed: two_copies)' if traffic.two_copies else ''}; the proxy must answer "
        "and know the backend",
        f"health gates against the idle slot (aimed at {traffic.host}:<its port>), "
        "before any traffic reaches it",
        *smoke,
        *_canary_phases(doc, traffic.driver),
        f"switch {where} to the idle slot: {describe}",
        "the health gates again, through the stable address; on failure, switch back",
        f"drain the old slot up to {format_duration(traffic.drain)} (the proxy's open "
        "requests), then stop it",
        f"keep the old slot stopped for {format_duration(traffic.standby)}: "
        "'chatops rollback' switches back to it",
    )
    return commands, BlueGreenPlan(traffic, projects, describe, phases)


def _swarm_step(doc: IntentDoc, index: int, count: int, file: Path,
                ctx: PlanContext) -> StepPlan:
    """A Swarm step: no container gate (each service's tasks are verified instead), the
    declared gates, and the snapshot's digests as the way back."""
    pins = swarm.pins_file(ctx.state_dir, doc.stack)
    return StepPlan(
        index=index, count=count, action=doc.action, stack=doc.stack, service=doc.service,
        compose=file, label_required=doc.label_required, snapshot=True,
        commands=swarm.commands(doc, file, pins),
        gates=tuple(_gate(check) for check in doc.health),
        rollback=swarm.rollback(doc) if ctx.rollback and doc.rollback_enabled else None,
        timeout=doc.timeout, hooks=_hooks(doc),
        rollback_on_hook_failure=doc.rollback_on_hook_failure, workdir=ctx.repo.root,
        replicas=doc.replicas, swarm=True, pins=pins, env=tuple(sorted(doc.env.items())),
        strategy=doc.strategy, runs_as="swarm")


def _replica_commands(doc: IntentDoc, file: Path, ctx: PlanContext) -> tuple[Command, ...]:
    """A replica canary: one new replica beside the N old ones, gated; then each old one
    replaced in turn, never fewer than N running."""
    cmd, svc, t = ctx.compose_command, doc.service, doc.timeout
    assert svc is not None  # noqa: S101 - replica_canary needs a service
    grow = c.compose(cmd, file, "up", "-d", "--no-deps", "--no-recreate", "--scale",
                     f"{svc}=<replicas + 1>", svc)
    return (
        Command(c.pull(cmd, file, svc), f"pull the image of service {svc}", t, False),
        Command(grow, f"start one replica of {svc} on the new image beside the old ones "
                "(the canary), then the health gates", t, True),
        Command(("engine-api", "remove", "<one old replica>"),
                "then, for each old replica: remove it, start one more new replica (up as "
                "above) and run the gates again; never fewer than the compose file's "
                "replicas run", t, True),
    )


def _canary_phases(doc: IntentDoc, driver: str) -> list[str]:
    if doc.strategy != "canary" or doc.canary is None:
        return []
    c = doc.canary
    limits = (f"error rate at most {c.max_error_rate:.1%} and at most "
              f"{c.max_error_rate_over_stable:.1%} above the stable slot's"
              + (f", response time at most {format_duration(c.max_p95)}" if c.max_p95 else "")
              + f", judged every {format_duration(c.interval)} once a window has "
              f"{c.min_requests} requests (fewer in a step: {c.too_few})")
    phases = []
    for i, step in enumerate(c.steps, start=1):
        if step.weight >= 100:
            continue
        pause = "until 'chatops promote RUN'" if step.pause == "manual" else \
            f"for {format_duration(float(step.pause or 0))}"
        phases.append(f"canary step {i}: {step.weight}% of new requests to the idle slot "
                      f"({driver} weights) {pause}; {limits}; a failing window sends every "
                      "request back to the live slot at once")
    return phases


def _plan_doc(
    doc: IntentDoc, index: int, count: int, file: Path, ctx: PlanContext, *, intent: str
) -> StepPlan:
    host = host_of(doc, ctx, intent)
    if host is not None or any("${" in str(getattr(g, "http", "")) + str(getattr(g, "tcp", ""))
                               for g in doc.health):
        values = ctx.hosts[host].vars if host is not None else {}
        doc = doc.model_copy(update={"health": [
            _on_host(g, values, f"health[{i}]", intent) for i, g in enumerate(doc.health)]})
    blue_green = None
    replica_canary = doc.strategy == "canary" and doc.traffic is None and bool(doc.service)
    if doc.engine == "swarm":
        return _swarm_step(doc, index, count, file, ctx)
    runs_as = "recreate"
    if doc.strategy in ("blue-green", "canary") and doc.traffic is not None and doc.service:
        commands, blue_green = _blue_green(doc, file, ctx)
        runs_as = doc.strategy
    elif replica_canary:
        commands = _replica_commands(doc, file, ctx)
        runs_as = "replica-canary"
    else:
        commands = _commands(doc, file, ctx)
        if doc.strategy == "self-upgrade":
            runs_as = doc.strategy
            commands = tuple(replace(cmd, description=f"{cmd.description}, run by a helper "
                                     "container on the old image, which puts the old image "
                                     "back if the new chatops does not report healthy")
                             if cmd.mutating else cmd for cmd in commands)
    mutating = any(cmd.mutating for cmd in commands)
    return StepPlan(
        index=index,
        count=count,
        action=doc.action,
        # On a named host the stack is its own (locks, snapshots, history): web@nas.
        stack=doc.stack if host is None else f"{doc.stack}@{host}",
        host=host,
        service=doc.service,
        compose=file,
        label_required=doc.label_required,
        snapshot=mutating,
        commands=commands,
        gates=_gates(doc, ctx.stable_for),
        rollback=_rollback(doc, file, ctx),
        timeout=doc.timeout,
        resolve=(
            f"the images that the last succeeded run of stack {doc.stack} left running, and "
            "that differ from what runs now (run history)"
            if doc.action == "rollback" else None
        ),
        retag=RETAG if doc.action == "rollback" else None,
        replicas=doc.replicas,
        blue_green=blue_green,
        hooks=_hooks(doc),
        rollback_on_hook_failure=doc.rollback_on_hook_failure,
        workdir=ctx.repo.root,
        canary=doc.canary if doc.strategy == "canary" else None,
        env=tuple(sorted(doc.env.items())),
        strategy=doc.strategy,
        runs_as=runs_as,
    )


HOOK_WHEN = {"pre_deploy": "before any change; a failure vetoes the run",
             "post_deploy": "after the health gates passed",
             "on_failure": "after a failure and its rollback"}


def _hooks(doc: IntentDoc) -> tuple[tuple[str, Command], ...]:
    return tuple(
        (kind, Command(tuple(hook.run), f"{kind} hook ({HOOK_WHEN[kind]})",
                       hook.timeout or doc.timeout, False))
        for kind in HOOK_WHEN for hook in doc.hooks.of(kind))
