"""Service settings: ``CHATOPS_*`` variables (and the seed's names), or a TOML file."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from chatops.errors import ConfigError
from chatops.settings import warn_unknown_variables

if TYPE_CHECKING:
    from chatops.server.connections import HttpLimits

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
    "github_webhook_secret": (MIN_SECRET_LENGTH, f"generate one with {GENERATE} and set the "
                              "same value as the webhook's secret on GitHub"),
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


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATOPS_", extra="forbid",
                                      populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    repo: Path = Field(default=Path("."))
    api_key: SecretStr | None = Field(default=None,
                                      validation_alias=AliasChoices("CHATOPS_API_KEY"))
    ip_allowlist: str = Field(default=DEFAULT_ALLOWLIST,
                              validation_alias=AliasChoices("CHATOPS_IP_ALLOWLIST"))
    trusted_proxies: str = ""
    approved_labels: str = Field(
        default="", validation_alias=AliasChoices("CHATOPS_APPROVED_LABELS", "APPROVED_LABEL"))
    log_level: str = Field(default="INFO",
                           validation_alias=AliasChoices("CHATOPS_LOG_LEVEL", "LOG_LEVEL"))
    max_parallel_stacks: int = Field(default=2, ge=1, le=64)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    rate_per_address: float = Field(default=20.0, gt=0)
    burst_per_address: int = Field(default=60, ge=1)
    rate_per_key: float = Field(default=10.0, gt=0)
    burst_per_key: int = Field(default=30, ge=1)
    lockout_failures: int = Field(default=10, ge=1)
    lockout_window: float = Field(default=60.0, gt=0)
    lockout_seconds: float = Field(default=300.0, gt=0)
    key_failure_budget: int = Field(default=50, ge=1)  # wrong keys per lockout window, all
    # addresses together, before every address is locked out at its first wrong key
    max_header_line: int = Field(default=8 * 1024, ge=1024, le=1024 * 1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=4 * 1024 * 1024)
    head_timeout: float = Field(default=10.0, gt=0, le=600)
    keep_alive_timeout: float = Field(default=5.0, gt=0, le=3600)
    max_connections: int = Field(default=512, ge=8, le=100_000)
    max_connections_per_address: int = Field(default=64, ge=1, le=100_000)
    shutdown_grace: float = Field(default=60.0, ge=0)
    wait_timeout: float = Field(default=3600.0, gt=0)
    security_window: float = Field(default=60.0, gt=0, le=86400)
    github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_token: SecretStr | None = None
    github_api: str = Field(default="https://api.github.com", pattern=r"^https?://")
    require_commit: bool | None = None  # default: on when GitHub is configured
    github_webhook_secret: SecretStr | None = None
    sync: bool = True  # runs without a commit move a Git checkout to the branch head first

    @property
    def enforce_github(self) -> bool:
        return bool(self.github_repo and self.github_token)

    @property
    def commit_required(self) -> bool:
        return self.enforce_github if self.require_commit is None else self.require_commit

    @field_validator("ip_allowlist", "trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value, "")
        return value

    @field_validator("api_key", "github_webhook_secret")
    @classmethod
    def _strong(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            minimum, advice = SECRETS[info.field_name or ""]
            weak = weak_secret(value.get_secret_value(), minimum)
            if weak:
                raise ValueError(f"{weak}; {advice}")
        return value

    @field_validator("github_token")
    @classmethod
    def _token_present(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty: set a GitHub token that can read pull requests, or "
                             "remove the variable")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def http_limits(self) -> HttpLimits:
        from chatops.server.connections import HttpLimits  # noqa: PLC0415 - uvicorn, lazily

        return HttpLimits(max_header_line=self.max_header_line,
                          max_header_bytes=self.max_header_bytes,
                          head_timeout=self.head_timeout,
                          max_connections=self.max_connections,
                          max_connections_per_address=self.max_connections_per_address)

    @property
    def allowlist(self) -> list[Network]:
        return parse_networks(self.ip_allowlist, "ip_allowlist")

    @property
    def proxies(self) -> list[Network]:
        return parse_networks(self.trusted_proxies, "trusted_proxies")

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.approved_labels.split(",") if p.strip())

    @property
    def loopback_only(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("CHATOPS_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)


def load_server_settings(**overrides: Any) -> ServerSettings:
    """Read once at start; every problem names the variable and what was expected."""
    warn_unknown_variables()
    config = os.environ.get("CHATOPS_CONFIG")
    if config and not Path(config).is_file():
        raise ConfigError(f"CHATOPS_CONFIG: no such file {config!r}")
    try:
        settings = ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            name = loc if loc.isupper() else f"CHATOPS_{loc.upper()}"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {msg}")
        raise ConfigError("invalid settings: " + "; ".join(lines)) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read settings: {exc}") from None
    return settings
