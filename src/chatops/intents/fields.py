"""The field types of intents and of their health checks: names, paths, URLs, durations,
statuses. Each is strict and says what it expected; the JSON Schema shows each pattern."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from chatops.approvers import rule_problem
from chatops.durations import parse_duration
from chatops.hosts import HOST_NAME_RE, VAR_RE

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


def _matching(regex: re.Pattern[str], expected: str) -> Callable[[str], str]:
    """A validator: the value matches ``regex``, else "expected <expected>; got ..."."""

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"expected {expected}; got {value!r}")
        return value

    return check


_stack = _matching(STACK_RE, "a stack slug: lowercase letters, digits, '-' and '_', "
                   "starting with a letter or digit, at most 63 characters")
_service = _matching(SERVICE_RE, "a compose service name: letters, digits, '.', '-' and "
                     "'_', starting with a letter or digit")


NotifyEvent = Literal["success", "failure", "rollback", "rollback_failed", "interrupted",
                      "waiting"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("success", "failure", "rollback",
                                          "rollback_failed", "interrupted", "waiting")
#: Run status to the event name used in ``notify_on`` (``waiting``: a canary held for a
#: promote, announced while the run goes on).
STATUS_EVENTS = {"succeeded": "success", "failed": "failure", "rolled_back": "rollback",
                 "rollback_failed": "rollback_failed", "interrupted": "interrupted",
                 "waiting": "waiting"}
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
EXCEPTION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _label_rule(value: str) -> str:
    problem = rule_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _exception_name(value: str) -> str:
    if not EXCEPTION_RE.match(value):
        raise ValueError(f"expected an exception's name from chatops/policy.yaml "
                         f"(lowercase letters, digits, '-', '_'); got {value!r}")
    return value


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


def _placeholders(value: str) -> str:
    """``${NAME}`` (a host's var, filled in when planning for that host) as a stand-in
    that any host or port accepts, for checking the rest."""
    return VAR_RE.sub("1", value)


def _url(value: str) -> str:
    try:
        parts = urlsplit(_placeholders(value))
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
    host, sep, port = _placeholders(value).rpartition(":")
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
def _host_name(value: str) -> str:
    if not HOST_NAME_RE.match(value) or value == "local":
        raise ValueError(f"{value!r}: a host name from CHATOPS_HOSTS (lower-case letters, "
                         "digits, '-' and '_')")
    return value


HostName = Annotated[str, AfterValidator(_host_name), WithJsonSchema(
    {"type": "string", "pattern": HOST_NAME_RE.pattern})]
IntentName = Annotated[str, AfterValidator(_intent_name), WithJsonSchema(
    {"type": "string", "pattern": NAME_RE.pattern})]
ComposePath = Annotated[str, AfterValidator(_compose_path), WithJsonSchema(
    {"type": "string", "pattern": r"\.ya?ml$"})]
Url = Annotated[str, AfterValidator(_url), WithJsonSchema(
    {"type": "string", "format": "uri", "pattern": "^https?://"})]
HostPort = Annotated[str, AfterValidator(_hostport), WithJsonSchema(
    {"type": "string", "pattern": r"^.+:\d{1,5}$"})]
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Variables an intent's env may not set: chatops's own run variables, and what names the
#: engine, the project or the program search path for every command of the step.
RESERVED_ENV = ("CHATOPS_", "DOCKER_", "COMPOSE_", "PATH", "HOME", "LD_", "SSH_AUTH_SOCK")


def _env(value: object) -> object:
    if not isinstance(value, dict):
        return value
    for name, text in value.items():
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise ValueError(f"{str(name)[:60]!r} is not a variable name (letters, digits "
                             "and '_', not starting with a digit)")
        if name.startswith(RESERVED_ENV):
            raise ValueError(f"{name} is chatops's or the engine's to set, not an intent's "
                             f"(names starting with {', '.join(RESERVED_ENV)} are refused)")
        if not isinstance(text, str):
            raise ValueError(f"{name} is {type(text).__name__} {text!r}; values are strings "
                             "(quote numbers and booleans)")
        bad = next((ch for ch in text if ord(ch) < 32 and ch != "\t"), None)
        if bad is not None:
            raise ValueError(f"{name} contains the control character {bad!r}")
    return value


Env = Annotated[dict[str, str], BeforeValidator(_env), WithJsonSchema(
    {"type": "object", "propertyNames": {"pattern": ENV_NAME_RE.pattern},
     "additionalProperties": {"type": "string"}})]
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
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)
