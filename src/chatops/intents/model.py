"""The intent document: what one step of a deploy asks for.

Field names and meanings follow the seed's intent format (``label_required``,
``action``, ``stack``, ``service``, ``compose``); everything else is optional.
Models are strict: unknown keys are refused and values are not coerced between
types, so a typo or a quoted number is reported rather than guessed at.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from chatops.health import HEALTH_KINDS, HealthCheck
from chatops.health.container import ContainerCheck
from chatops.health.http import HttpCheck
from chatops.health.kuma import KumaCheck
from chatops.health.tcp import TcpCheck
from chatops.intents.approval import Approval
from chatops.intents.canary import Canary
from chatops.intents.fields import (
    NAME_MAX,
    NAME_RE,
    NOTIFY_EVENTS,
    SERVICE_RE,
    STACK_RE,
    STATUS_EVENTS,
    ComposePath,
    Duration,
    Env,
    HostName,
    IntentName,
    Label,
    NotifyEvent,
    Service,
    Stack,
    _cron,
    _exception_name,
    _label_rule,
    _Strict,
    _tag,
    name_problem,
)
from chatops.intents.hooks import Hooks
from chatops.intents.preview import Preview
from chatops.intents.traffic import DRIVERS, SmokeCheck, Traffic

__all__ = [
    "ACTIONS",
    "HEALTH_KINDS",
    "NAME_MAX",
    "NAME_RE",
    "NOTIFY_EVENTS",
    "ROLLBACK_ACTIONS",
    "RUNNING_ACTIONS",
    "SERVICE_RE",
    "STACK_RE",
    "STATUS_EVENTS",
    "STRATEGIES",
    "ContainerCheck",
    "HealthCheck",
    "HttpCheck",
    "IntentDoc",
    "KumaCheck",
    "SmokeCheck",
    "TcpCheck",
    "Traffic",
    "check_action_rules",
    "name_problem",
]

ACTIONS = ("rollout", "scale", "restart", "pull", "up", "stop", "down", "rollback")
Action = Literal["rollout", "scale", "restart", "pull", "up", "stop", "down", "rollback"]
#: Actions after which the stack's containers are expected to be running and healthy.
RUNNING_ACTIONS = frozenset({"rollout", "scale", "restart", "up", "rollback"})
#: Actions whose failure can be undone from a snapshot.
ROLLBACK_ACTIONS = frozenset({"rollout", "scale", "restart", "up", "rollback"})
STRATEGIES = ("recreate", "blue-green", "canary", "self-upgrade")
Strategy = Literal["recreate", "blue-green", "canary", "self-upgrade"]
#: Actions a blue-green service can take: a new version into the idle slot, or back.
BLUE_GREEN_ACTIONS = frozenset({"rollout", "rollback"})


def _action_rules(schema: dict[str, Any]) -> None:
    """The per-action rules of ``check_action_rules``, for editors and JSON Schema tools."""
    schema["allOf"] = [
        {"if": {"properties": {"action": {"const": "scale"}}},
         "then": {"required": ["service", "replicas"]},
         "else": {"not": {"required": ["replicas"]}}},
        {"if": {"properties": {"action": {"const": "down"}}},
         "then": {"required": ["destructive"],
                  "properties": {"destructive": {"const": True}},
                  "not": {"required": ["service"]}},
         "else": {"properties": {"destructive": {"const": False}}}},
        {"if": {"properties": {"action": {"enum": ["pull", "stop", "down"]}}},
         "then": {"properties": {"rollback": {"const": False}}}},
    ]


class IntentDoc(_Strict):
    """One YAML document of an intent file: one step of a deploy."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra=_action_rules,
        title="chatops intent document", defer_build=True,
    )

    label_required: Label = Field(
        description="pull-request label that must approve this intent, e.g. approved-by-gemini"
    )
    action: Action = Field(description="what to do to the stack")
    stack: Stack = Field(description="stack slug; its folder under stacks/")
    service: Service | None = Field(
        default=None, description="one compose service; the whole stack when omitted"
    )
    compose: ComposePath | None = Field(
        default=None,
        description="compose file: absolute, or relative to the GitOps repository root; "
        "default stacks/<stack>/docker-compose.yml",
    )
    replicas: int | None = Field(default=None, ge=0, le=1000, description="scale only")
    depends_on: list[IntentName] = Field(
        default=[], description="intents that must succeed before this one"
    )
    timeout: Duration = Field(default=600.0, description="time limit of each step")
    health: list[HealthCheck] = Field(
        default=[], description="checks that must pass after the change"
    )
    rollback: bool | None = Field(
        default=None,
        description="restore the previous images when the change fails (default: on for rollout)",
    )
    destructive: bool = Field(default=False, description="must be true for action down")
    notify: list[Annotated[str, AfterValidator(_tag)]] = Field(
        default=[],
        description="tags of notification targets (CHATOPS_NOTIFY_URLS=tag=URL) that hear "
        "about this intent; untagged targets hear about every intent")
    schedule: Annotated[str, AfterValidator(_cron)] | None = Field(
        default=None, description="cron schedule the service runs this intent on, in "
        "CHATOPS_TIMEZONE (e.g. '0 2 * * 0': Sundays at 02:00)")
    notify_on: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        description="which outcomes are announced (default: all)")
    strategy: Strategy = Field(
        default="recreate", description="recreate (stop, then start the new version), "
        "blue-green (start it beside the old one, gate it, switch traffic in the proxy), "
        "canary, or self-upgrade (chatops's own service: a helper container recreates it "
        "and puts the old image back if the new one does not come up healthy)")
    traffic: Traffic | None = Field(
        default=None, description="blue-green: the proxy, the stable address and the "
        "slots' ports")
    canary: Canary | None = Field(
        default=None, description="canary: the steps (weights and pauses) and the limits "
        "of their analysis")
    hooks: Hooks = Field(default_factory=Hooks, description="commands run on the host "
                         "before the change, after it, and after a failure (argv lists)")
    rollback_on_hook_failure: bool = Field(
        default=False, description="a failing post_deploy hook rolls the change back")
    label_by: list[Annotated[str, AfterValidator(_label_rule)]] = Field(
        default=[], max_length=50,
        description="who may add label_required on the forge: user:NAME, team:ORG/TEAM, "
        "group:PATH (GitLab) or permission:write|maintain|admin (default: "
        "CHATOPS_LABEL_BY, permission:write); never the pull request's author")
    self_approve: bool = Field(
        default=False, description="the pull request's author may add the label")
    policy_exceptions: list[Annotated[str, AfterValidator(_exception_name)]] = Field(
        default=[], max_length=50,
        description="exceptions of chatops/policy.yaml this intent may use, by name (a "
        "preview never gets them)")
    approval: Approval | None = Field(
        default=None, description="people who must approve each run in chat (or through "
        "the API or the CLI) before it starts: approvers, min, ttl, self_approve")
    engine: Literal["compose", "swarm"] = Field(
        default="compose", description="compose (docker compose on the host) or swarm "
        "(docker stack deploy: Swarm services, images pinned by digest, the outcome read "
        "from each service's UpdateStatus)")
    env: Env = Field(
        default_factory=dict, max_length=200, description="variables given to this "
        "step's Compose commands (interpolation) and hooks; the only variables they get "
        "besides PATH, HOME, locale, the engine's DOCKER_* and the CHATOPS_* run variables")
    host: HostName | None = Field(
        default=None, description="the named Docker host (CHATOPS_HOSTS) every engine and "
        "Compose command of this step goes to; default: this machine's engine")
    hosts: list[HostName] = Field(
        default=[], max_length=100, description="roll the intent across these "
        "named hosts, each gated, stopping at the first failure")
    parallel: int = Field(default=1, ge=1, le=100, description="with hosts: how many "
                          "hosts at once")
    keep_done_hosts: bool = Field(
        default=False, description="with hosts: when a host fails, keep the hosts already "
        "done on the new version (default: roll them back)")
    reconcile: Literal["alert", "heal", "off"] = Field(
        default="alert", description="on drift from the last good deploy: alert (tell, once "
        "per drift), heal (tell, and run this intent again to put it back, once per "
        "drift, never after a failed or rolled-back run), or off")
    preview: Preview | None = Field(
        default=None, description="a pull request labelled for previews gets this "
        "document's stack started as STACK-pr-N from its head, reached through the preview "
        "proxy at pr-N.CHATOPS_PREVIEW_DOMAIN")

    @property
    def rollback_enabled(self) -> bool:
        if self.rollback is None:
            return self.action in ("rollout", "rollback")
        return self.rollback and self.action in ROLLBACK_ACTIONS

    def summary(self) -> str:
        """The validator's one-line description, as in the seed: ``rollout on stack-media``."""
        return f"{self.action} on {self.stack}"


SWARM_ACTIONS = ("rollout", "scale", "restart", "rollback")


def _host_rules(doc: IntentDoc) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if doc.engine == "swarm":
        if doc.action not in SWARM_ACTIONS:
            problems.append(("action", f"engine swarm takes {', '.join(SWARM_ACTIONS)}, not "
                             f"{doc.action}"))
        if doc.strategy != "recreate":
            problems.append(("strategy", "engine swarm rolls out as the file's "
                             "deploy.update_config says; the strategy stays recreate"))
        if doc.host is not None or doc.hosts:
            problems.append(("host", "engine swarm deploys through this machine's engine "
                             "(a manager); named hosts are for compose"))
    if doc.preview is not None and (doc.engine != "compose" or doc.host or doc.hosts
                                    or doc.action not in ("rollout", "up")):
        problems.append(("preview", "previews run with Compose on this machine's engine, "
                         "for action rollout or up"))
    if doc.preview is not None and doc.preview.service is None and doc.service is None:
        problems.append(("preview.service", "name the service the preview's URL reaches "
                         "(the intent names none)"))
    if doc.host is not None and doc.hosts:
        problems.append(("hosts", "give host (one) or hosts (a rolling deploy), not both"))
    if len(set(doc.hosts)) != len(doc.hosts):
        problems.append(("hosts", "a host is named twice"))
    if not doc.hosts and (doc.parallel != 1 or doc.keep_done_hosts):
        problems.append(("parallel" if doc.parallel != 1 else "keep_done_hosts",
                         "only applies with hosts"))
    if (doc.host is not None or doc.hosts) and doc.strategy != "recreate":
        problems.append(("strategy", f"{doc.strategy} on a named host is not supported "
                         "yet (its proxy would be that host's); use recreate"))
    return problems


def _strategy_rules(doc: IntentDoc) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = _host_rules(doc)
    if doc.canary is not None and doc.strategy != "canary":
        problems.append(("canary", "only applies to strategy canary"))
    if doc.strategy in ("recreate", "self-upgrade"):
        if doc.traffic is not None:
            problems.append(("traffic", "only applies to strategies blue-green and canary"))
        if doc.strategy == "self-upgrade":
            problems.extend(_self_upgrade_rules(doc))
        return problems
    if doc.action not in BLUE_GREEN_ACTIONS:
        problems.append(("strategy", f"{doc.strategy} applies to action rollout (and "
                         f"rollback), not {doc.action}"))
    if doc.service is None:
        problems.append(("service", f"strategy {doc.strategy} needs the one service to "
                         "roll out"))
    if doc.strategy == "canary" and doc.traffic is None and doc.action != "rollout":
        problems.append(("strategy", "a replica canary (strategy canary without a traffic "
                         f"block) applies to action rollout, not {doc.action}"))
    if doc.traffic is None and doc.strategy == "blue-green":
        problems.append(("traffic", f"strategy {doc.strategy} needs a traffic block: "
                         "driver, listen and ports {blue, green}"))
    if doc.strategy == "canary" and doc.traffic is not None:
        if doc.canary is None:
            problems.append(("canary", "strategy canary needs a canary block with its "
                             "steps, such as [{weight: 10, pause: 60s}, {weight: 100}]"))
        traits = DRIVERS[doc.traffic.driver]
        if not traits.weights:
            weighted = " or ".join(n for n, t in DRIVERS.items() if t.weights)
            problems.append(("traffic.driver", f"{traits.title} cannot weight traffic "
                             f"between two slots: a canary needs {weighted} (or use "
                             "strategy blue-green)"))
    return problems


def _self_upgrade_rules(doc: IntentDoc) -> list[tuple[str, str]]:
    problems = []
    if doc.action != "rollout":
        problems.append(("strategy", f"self-upgrade applies to action rollout, not "
                         f"{doc.action}"))
    if doc.service is None:
        problems.append(("service", "strategy self-upgrade needs the service chatops "
                         "itself runs as"))
    return problems


def check_action_rules(doc: IntentDoc) -> list[tuple[str, str]]:
    """Rules that tie fields to the action. Returns ``(field, message)`` pairs."""
    problems: list[tuple[str, str]] = []
    if doc.action == "scale":
        if doc.service is None:
            problems.append(("service", "action scale needs the service to scale"))
        if doc.replicas is None:
            problems.append(("replicas", "action scale needs replicas (0 to 1000)"))
    elif doc.replicas is not None:
        problems.append(("replicas", f"only applies to action scale, not {doc.action}"))
    if doc.action == "down":
        if not doc.destructive:
            problems.append((
                "destructive",
                "action down removes every container of the stack; "
                "add 'destructive: true' to confirm",
            ))
        if doc.service is not None:
            problems.append((
                "service",
                "action down acts on a whole stack; use action stop for one service",
            ))
    elif doc.destructive:
        problems.append(("destructive", f"only applies to action down, not {doc.action}"))
    if doc.rollback and doc.action not in ROLLBACK_ACTIONS:
        problems.append((
            "rollback",
            f"action {doc.action} cannot be rolled back; rollback applies to "
            + ", ".join(sorted(ROLLBACK_ACTIONS)),
        ))
    problems.extend(_strategy_rules(doc))
    if doc.health and doc.action not in RUNNING_ACTIONS:
        problems.append((
            "health",
            f"health checks run after a change that leaves services running; "
            f"action {doc.action} does not",
        ))
    return problems
