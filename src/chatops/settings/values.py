"""How setting values are read: commands, networks, secrets, tables, time zones, refs.
Each raises ``ValueError`` naming what was expected; the settings add the variable."""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator

from chatops.errors import ConfigError

DEFAULT_COMPOSE_COMMAND = ("docker", "compose")
DEFAULT_STABILITY_WINDOW = 2.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_compose_command(value: str, source: str = "CHATOPS_COMPOSE_COMMAND") -> tuple[str, ...]:
    """``docker compose``, ``docker-compose`` or ``podman compose`` to an argv prefix."""
    try:
        argv = tuple(shlex.split(value))
    except ValueError as exc:
        raise ConfigError(f"{source}: cannot split {value!r} into words: {exc}") from None
    if not argv:
        raise ConfigError(
            f"{source}: expected a command such as 'docker compose' or 'docker-compose', got ''"
        )
    return argv


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_ALLOWLIST = "127.0.0.0/8,::1/128,100.64.0.0/10"


def parse_networks(value: object, field: str) -> list[Network]:
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = [p for p in str(value or "").replace(" ", ",").split(",") if p]
    nets: list[Network] = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or CIDR (such as 100.64.0.0/10 or ::1)"
            ) from None
    return nets


MIN_KEY_LENGTH = 32
MIN_SECRET_LENGTH = 16
GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
#: Secrets checked at start: (shortest accepted, how to make a good one).
SECRETS = {
    "api_key": (MIN_KEY_LENGTH, "create a named key with 'chatops keys create NAME' "
                f"(preferred) or generate one with {GENERATE}"),
    "forge_webhook_secret": (MIN_SECRET_LENGTH, f"generate one with {GENERATE} and set the "
                              "same value as the webhook's secret on the forge"),
    "oidc_client_secret": (MIN_SECRET_LENGTH, "copy the client secret the identity "
                           "provider made for chatops's client"),
    "slack_signing_secret": (MIN_SECRET_LENGTH, "copy the Signing Secret from your Slack "
                             "app's Basic Information page (32 hexadecimal characters)"),
}
#: Values people leave in place from examples and tutorials (compared lowercased).
PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "replaceme",
                "your-api-key", "your_api_key", "yourapikey", "your-secret", "placeholder",
                "example", "secret-here", "insert-", "todo", "xxxxxxxx")


def weak_secret(value: str, minimum: int) -> str | None:
    """Why ``value`` is not a secret (never quoting it), or None."""
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return "has spaces around it (HTTP headers drop them, so the key could never match)"
    lowered = value.lower()
    if any(p in lowered for p in PLACEHOLDERS):
        return "is a placeholder from an example, not a secret"
    if len(value) < minimum:
        return f"is too short ({len(value)} characters; at least {minimum})"
    if len(set(value)) < 8:
        return f"has too few different characters ({len(set(value))}) to be random"
    return None


def blank(value: object) -> object:
    """An empty variable is an unset one (``CHATOPS_KUMA_URL=`` in an env file)."""
    return None if isinstance(value, str) and not value.strip() else value


def table(value: object, example: str) -> object:
    """A table setting: JSON in the environment (or a TOML table); unset is empty."""
    value = blank(value)
    if value is None:
        return {}
    if isinstance(value, str):
        import json  # noqa: PLC0415

        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"expected JSON such as {example}: {exc}") from None
    return value


def time_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - keeps imports lean

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (such as UTC or Europe/Berlin)") \
            from None
    return value


def ref_name(value: str) -> str:
    import re  # noqa: PLC0415 - settings stay cheap to import for validate

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,100}", value) or ".." in value:
        raise ValueError(f"expected a Git remote or branch name, got {value!r}")
    return value


def optional_path(value: object) -> object:
    value = blank(value)
    return Path(str(value)).expanduser() if value is not None else None


def optional_text(value: object) -> object:
    value = blank(value)
    return str(value).rstrip("/") if value is not None else None


#: A path where an empty variable is an unset one; ``~`` expanded.
OptionalPath = Annotated[Path | None, BeforeValidator(optional_path)]
#: Text (a URL, a window) where an empty variable is an unset one; no trailing slash.
OptionalText = Annotated[str | None, BeforeValidator(optional_text)]
