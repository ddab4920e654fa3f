"""The intent document: what one step of a deploy asks for.

Field names and meanings follow the seed's intent format (``label_required``,
``action``, ``stack``, ``service``, ``compose``); everything else is optional.
Models are strict: unknown keys are refused and values are not coerced between
types, so a typo or a quoted number is reported rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
)

from chatops.durations import parse_duration

ACTIONS = ("rollout", "scale", "restart", "pull", "up", "stop", "down", "rollback")
Action = Literal["rollout", "scale", "restart", "pull", "up", "stop", "down", "rollback"]
#: Actions after which the stack's containers are expected to be running and healthy.
RUNNING_ACTIONS = frozenset({"rollout", "scale", "restart", "up", "rollback"})
#: Actions whose failure can be undone from a snapshot.
ROLLBACK_ACTIONS = frozenset({"rollout", "scale", "restart", "up", "rollback"})

#: Longest intent name: its file (``NAME.yaml``) must fit every file system's 255 bytes.
NAME_MAX = 128
NAME_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{NAME_MAX}}}$")
# Compose project names: lowercase letters, digits, dashes and underscores,
# starting with a letter or digit (docs.docker.com/compose/how-tos/project-name/).
STACK_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# GitHub labels: at most 50 characters, no line breaks.
LABEL_RE = re.compile(r"^[^\r\n\t]{1,50}$")


def _label(value: str) -> str:
    if not value.strip() or not LABEL_RE.match(value):
        raise ValueError(
            "expected the name of a pull-request label (1 to 50 characters on one line)"
        )
    return value


def _stack(value: str) -> str:
    if not STACK_RE.match(value):
        raise ValueError(
            "expected a stack slug: lowercase letters, digits, '-' and '_', starting "
            f"with a letter or digit, at most 63 characters; got {value!r}"
        )
    return value


def _service(value: str) -> str:
    if not SERVICE_RE.match(value):
        raise ValueError(
            "expected a compose service name: letters, digits, '.', '-' and '_', "
            f"starting with a letter or digit; got {value!r}"
        )
    return value


NotifyEvent = Literal["success", "failure", "rollback", "rollback_failed", "interrupted"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("success", "failure", "rollback",
                                          "rollback_failed", "interrupted")
#: Run status to the event name used in ``notify_on``.
STATUS_EVENTS = {"succeeded": "success", "failed": "failure", "rolled_back": "rollback",
                 "rollback_failed": "rollback_failed", "interrupted": "interrupted"}
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _tag(value: str) -> str:
    if not TAG_RE.match(value):
        raise ValueError(f"expected a target tag (lowercase letters, digits, '-', '_'); "
                         f"got {value!r}")
    return value


def _cron(value: str) -> str:
    from croniter import croniter  # noqa: PLC0415 - only intents with a schedule need it

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"expected a cron schedule of five fields such as '0 2 * * 0' "
                         f"(Sundays at 02:00); got {value!r}")
    return value


def name_problem(value: object) -> str | None:
    """Why ``value`` is not an intent name, or None: checked before any file is touched."""
    if isinstance(value, str) and NAME_RE.match(value):
        return None
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else \
        f"{value[:40]!r}... ({len(value)} characters)"
    return (f"expected an intent name: 1 to {NAME_MAX} letters, digits, '-' and '_' "
            f"(a file stem); got {shown}")


def _intent_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _compose_path(value: str) -> str:
    if not value or value != value.strip() or any(c in value for c in "\x00\r\n"):
        raise ValueError("expected a path to a compose file on one line")
    if not value.endswith((".yml", ".yaml")):
        raise ValueError(
            f"expected a path to a compose file ending in .yml or .yaml; got {value!r}"
        )
    parts = value.replace("\\", "/").split("/")
    if not value.startswith("/") and ".." in parts:
        raise ValueError(
            "a relative compose path may not leave the GitOps repository ('..' is not "
            f"allowed); got {value!r}"
        )
    return value


def _url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"expected an http:// or https:// URL with a host; got {value!r}")
    if any(c.isspace() for c in value):
        raise ValueError(f"expected a URL without spaces; got {value!r}")
    return value


def _hostport(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:32400; got {value!r}")
    return value


def _status(value: object) -> tuple[int, int]:
    """``200``, ``"200-299"`` or ``"2xx"`` to an inclusive range."""
    lo = hi = None
    if isinstance(value, int) and not isinstance(value, bool):
        lo = hi = value
    elif (isinstance(value, list | tuple) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        lo, hi = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[1-5]xx", text):
            lo, hi = int(text[0]) * 100, int(text[0]) * 100 + 99
        elif re.fullmatch(r"\d{3}", text):
            lo = hi = int(text)
        elif m := re.fullmatch(r"(\d{3})\s*-\s*(\d{3})", text):
            lo, hi = int(m[1]), int(m[2])
    if lo is None or hi is None or not (100 <= lo <= hi <= 599):
        raise ValueError(
            "expected an HTTP status such as 200, a range such as 200-399 or [200, 399], "
            f"or 2xx; got {value!r}"
        )
    return (lo, hi)


_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)?\s*)+$"},
        {"type": "number", "exclusiveMinimum": 0},
    ],
    "description": "A duration such as 30s, 10m or 1h30m (bare numbers are seconds).",
}

Duration = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)
]
Label = Annotated[str, AfterValidator(_label)]
Stack = Annotated[str, AfterValidator(_stack), WithJsonSchema(
    {"type": "string", "pattern": STACK_RE.pattern})]
Service = Annotated[str, AfterValidator(_service), WithJsonSchema(
    {"type": "string", "pattern": SERVICE_RE.pattern})]
IntentName = Annotated[str, AfterValidator(_intent_name), WithJsonSchema(
    {"type": "string", "pattern": NAME_RE.pattern})]
ComposePath = Annotated[str, AfterValidator(_compose_path), WithJsonSchema(
    {"type": "string", "pattern": r"\.ya?ml$"})]
Url = Annotated[str, AfterValidator(_url), WithJsonSchema(
    {"type": "string", "format": "uri", "pattern": "^https?://"})]
HostPort = Annotated[str, AfterValidator(_hostport), WithJsonSchema(
    {"type": "string", "pattern": r"^.+:\d{1,5}$"})]
StatusRange = Annotated[
    tuple[int, int],
    BeforeValidator(_status),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 100, "maximum": 599},
            {"type": "string", "pattern": r"^(\d{3}(\s*-\s*\d{3})?|[1-5]xx)$"},
            {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599},
             "minItems": 2, "maxItems": 2},
        ],
        "description": "An HTTP status, an inclusive range such as 200-399, or 2xx.",
    }),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HttpCheck(_Strict):
    """Poll a URL until it answers with an expected status (and body text)."""

    http: Url = Field(description="URL to request, e.g. http://127.0.0.1:32400/web")
    status: StatusRange = Field(default=(200, 399), description="expected status or range")
    body: str | None = Field(default=None, description="text the response body must contain")
    within: Duration = Field(default=60.0, description="deadline for the check to pass")
    interval: Duration = Field(default=0.5, description="time between attempts")
    timeout: Duration = Field(default=5.0, description="time limit of one request")


class TcpCheck(_Strict):
    """Wait until a TCP port accepts connections."""

    tcp: HostPort = Field(description="HOST:PORT to connect to, e.g. 127.0.0.1:32400")
    within: Duration = 60.0
    interval: Duration = 0.5


class ContainerCheck(_Strict):
    """Wait until a service's containers are running (or healthy) and stay so."""

    container: Service = Field(description="compose service whose containers are checked")
    state: Literal["running", "healthy"] = "running"
    within: Duration = 60.0
    stable_for: Duration = Field(
        default=2.0, description="how long the containers must stay up without restarting"
    )


class KumaCheck(_Strict):
    """Wait until an Uptime Kuma monitor reports UP (the seed's post-deploy check).

    With ``status_page``, Kuma's heartbeat API must show a beat newer than the change;
    without, the public badge (``/api/badge/<id>/status``) must read Up.
    """

    kuma: int = Field(ge=1, description="Uptime Kuma monitor id")
    url: Url | None = Field(
        default=None, description="Uptime Kuma base URL (default: CHATOPS_KUMA_URL)")
    status_page: Annotated[str, AfterValidator(_intent_name)] | None = Field(
        default=None, description="slug of a status page that shows the monitor")
    within: Duration = Field(default=300.0, description="deadline for the monitor to be UP")
    interval: Duration = 5.0


HEALTH_KINDS = ("http", "tcp", "container", "kuma")


def _health_kind(value: object) -> str | None:
    if isinstance(value, dict):
        for kind in HEALTH_KINDS:
            if kind in value:
                return kind
        return None
    if isinstance(value, BaseModel):
        for kind in HEALTH_KINDS:
            if hasattr(value, kind):
                return kind
    return None


HealthCheck = Annotated[
    Annotated[HttpCheck, Tag("http")]
    | Annotated[TcpCheck, Tag("tcp")]
    | Annotated[ContainerCheck, Tag("container")]
    | Annotated[KumaCheck, Tag("kuma")],
    Discriminator(
        _health_kind,
        custom_error_type="health_kind",
        custom_error_message="expected a check with one of the keys http, tcp, container "
        "or kuma",
    ),
]


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
        title="chatops intent document",
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
        default_factory=list, description="intents that must succeed before this one"
    )
    timeout: Duration = Field(default=600.0, description="time limit of each step")
    health: list[HealthCheck] = Field(
        default_factory=list, description="checks that must pass after the change"
    )
    rollback: bool | None = Field(
        default=None,
        description="restore the previous images when the change fails (default: on for rollout)",
    )
    destructive: bool = Field(default=False, description="must be true for action down")
    notify: list[Annotated[str, AfterValidator(_tag)]] = Field(
        default_factory=list,
        description="tags of notification targets (CHATOPS_NOTIFY_URLS=tag=URL) that hear "
        "about this intent; untagged targets hear about every intent")
    schedule: Annotated[str, AfterValidator(_cron)] | None = Field(
        default=None, description="cron schedule the service runs this intent on, in "
        "CHATOPS_TIMEZONE (e.g. '0 2 * * 0': Sundays at 02:00)")
    notify_on: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        description="which outcomes are announced (default: all)")

    @property
    def rollback_enabled(self) -> bool:
        if self.rollback is None:
            return self.action in ("rollout", "rollback")
        return self.rollback and self.action in ROLLBACK_ACTIONS

    def summary(self) -> str:
        """The validator's one-line description, as in the seed: ``rollout on stack-media``."""
        return f"{self.action} on {self.stack}"


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
    if doc.health and doc.action not in RUNNING_ACTIONS:
        problems.append((
            "health",
            f"health checks run after a change that leaves services running; "
            f"action {doc.action} does not",
        ))
    return problems
