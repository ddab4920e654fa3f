"""Every setting of chatops, in one model, read once at start and passed down.

Values come from, highest first: the arguments of ``Settings.load`` (command-line flags),
the environment (``CHATOPS_*``, and the seed's ``APPROVED_LABEL``, ``LOG_LEVEL`` and
``DISCORD_WEBHOOK_URL``), and a TOML file named by ``CHATOPS_CONFIG`` (keys are the field
names). Every problem names the variable and what was expected; a ``CHATOPS_*`` variable
nothing reads is reported with a guess.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chatops.durations import parse_duration
from chatops.errors import ConfigError
from chatops.hosts import HostSpec, parse_hosts
from chatops.paths import default_state_dir

if TYPE_CHECKING:
    from chatops.server.connections import HttpLimits

DEFAULT_COMPOSE_COMMAND = ("docker", "compose")


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


#: Every CHATOPS_* variable chatops reads: the host's, the service's (a test keeps these
#: lists and the fields of ``Settings`` together), and the test harness's. Anything else
#: starting with CHATOPS_ is most likely a typo.
HOST_VARIABLES = frozenset({
    "CHATOPS_COMPOSE_COMMAND", "CHATOPS_STATE_DIR", "CHATOPS_STABILITY_WINDOW",
    "CHATOPS_LOG_LEVEL", "CHATOPS_LOG_FILE", "CHATOPS_KUMA_URL", "CHATOPS_KUMA_PUSH_URL",
    "CHATOPS_NOTIFY_URLS", "CHATOPS_PUBLIC_URL", "CHATOPS_TIMEZONE",
    "CHATOPS_DEPLOY_WINDOWS", "CHATOPS_FREEZE", "CHATOPS_MISSED_RUNS", "CHATOPS_MAX_PARALLEL",
    "CHATOPS_GIT_REMOTE", "CHATOPS_DEPLOY_BRANCH", "CHATOPS_REPO", "CHATOPS_CONFIG",
    "CHATOPS_DEBUG", "CHATOPS_URL", "CHATOPS_HAPROXY_SOCKET", "CHATOPS_HAPROXY_CONFIG",
    "CHATOPS_TRAEFIK_DIR", "CHATOPS_TRAEFIK_API", "CHATOPS_NPM_URL", "CHATOPS_NPM_EMAIL",
    "CHATOPS_NPM_PASSWORD", "CHATOPS_HOSTS",
})
SERVICE_VARIABLES = frozenset({
    "CHATOPS_HOST", "CHATOPS_PORT", "CHATOPS_API_KEY", "CHATOPS_IP_ALLOWLIST",
    "CHATOPS_TRUSTED_PROXIES", "CHATOPS_APPROVED_LABELS", "CHATOPS_MAX_PARALLEL_STACKS",
    "CHATOPS_MAX_BODY_BYTES", "CHATOPS_RATE_PER_ADDRESS", "CHATOPS_BURST_PER_ADDRESS",
    "CHATOPS_RATE_PER_KEY", "CHATOPS_BURST_PER_KEY", "CHATOPS_LOCKOUT_FAILURES",
    "CHATOPS_LOCKOUT_WINDOW", "CHATOPS_LOCKOUT_SECONDS", "CHATOPS_KEY_FAILURE_BUDGET",
    "CHATOPS_MAX_HEADER_LINE", "CHATOPS_MAX_HEADER_BYTES", "CHATOPS_HEAD_TIMEOUT",
    "CHATOPS_BODY_TIMEOUT", "CHATOPS_BODY_MIN_RATE",
    "CHATOPS_KEEP_ALIVE_TIMEOUT", "CHATOPS_MAX_CONNECTIONS",
    "CHATOPS_MAX_CONNECTIONS_PER_ADDRESS", "CHATOPS_SHUTDOWN_GRACE", "CHATOPS_WAIT_TIMEOUT",
    "CHATOPS_SECURITY_WINDOW", "CHATOPS_GITHUB_REPO", "CHATOPS_GITHUB_TOKEN",
    "CHATOPS_GITHUB_API", "CHATOPS_REQUIRE_COMMIT", "CHATOPS_GITHUB_WEBHOOK_SECRET",
    "CHATOPS_SYNC", "CHATOPS_REPO", "CHATOPS_LOG_LEVEL", "CHATOPS_DISCORD_PUBLIC_KEY",
    "CHATOPS_DISCORD_APPLICATION_ID", "CHATOPS_DISCORD_BOT_TOKEN", "CHATOPS_DISCORD_API",
    "CHATOPS_SLACK_SIGNING_SECRET", "CHATOPS_SLACK_BOT_TOKEN", "CHATOPS_CHAT_IDENTITIES",
    "CHATOPS_DISCORD_APPROVAL_CHANNEL", "CHATOPS_SLACK_APPROVAL_CHANNEL", "CHATOPS_SLACK_API",
})
HARNESS_VARIABLES = frozenset({
    "CHATOPS_REQUIRE_DOCKER", "CHATOPS_REQUIRE_TOOLS", "CHATOPS_DOCKER_UNAVAILABLE",
    "CHATOPS_HARNESS_DIR", "CHATOPS_PIP_SPEC", "CHATOPS_TEST_REGISTRY", "CHATOPS_FUZZ_RANDOM",
})
KNOWN_VARIABLES = HOST_VARIABLES | SERVICE_VARIABLES | HARNESS_VARIABLES


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """One line for each CHATOPS_* variable chatops does not read, with a guess."""
    import difflib  # noqa: PLC0415 - only when there is something to say

    env = os.environ if env is None else env
    lines = []
    for name in sorted(n for n in env if n.startswith("CHATOPS_") and n not in KNOWN_VARIABLES):
        guess = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1, cutoff=0.75)
        hint = f"; did you mean {guess[0]}?" if guess else ""
        lines.append(f"{name} is not a chatops setting{hint}")
    return lines


_WARNED = False


def warn_unknown_variables(env: Mapping[str, str] | None = None) -> None:
    """Say once per process which CHATOPS_* variables nothing reads (a typo is silent)."""
    global _WARNED  # noqa: PLW0603 - once per process, whoever reads the settings first
    if _WARNED:
        return
    _WARNED = True
    for line in unknown_variables(env):
        sys.stderr.write(f"warning: {line}\n")


DEFAULT_STABILITY_WINDOW = 2.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: The environment variables of a field, when they are not just CHATOPS_<FIELD>.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "approved_labels": ("CHATOPS_APPROVED_LABELS", "APPROVED_LABEL"),
    "log_level": ("CHATOPS_LOG_LEVEL", "LOG_LEVEL"),
    "notify_urls": ("CHATOPS_NOTIFY_URLS", "DISCORD_WEBHOOK_URL"),
}


def env_names(field: str) -> tuple[str, ...]:
    return ENV_NAMES.get(field, (f"CHATOPS_{field.upper()}",))


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


def _blank(value: object) -> object:
    """An empty variable is an unset one (``CHATOPS_KUMA_URL=`` in an env file)."""
    return None if isinstance(value, str) and not value.strip() else value


def _table(value: object, example: str) -> object:
    """A table setting: JSON in the environment (or a TOML table); unset is empty."""
    value = _blank(value)
    if value is None:
        return {}
    if isinstance(value, str):
        import json  # noqa: PLC0415

        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"expected JSON such as {example}: {exc}") from None
    return value


class ChatGrant(BaseModel):
    """What one chat identity may do: the same scopes as an API key's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scopes: tuple[Literal["run", "rollback", "read", "approve"], ...] = ("read",)
    intents: str = Field(default="*", min_length=1, max_length=200)
    stacks: tuple[str, ...] = ()


class Settings(BaseModel):
    """Every setting, for the CLI and the service alike (the service's own are unused by
    the commands that do not serve)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- this host -------------------------------------------------------------------
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    state_dir: Path = Field(default_factory=lambda: Path(default_state_dir()).expanduser())
    stability_window: float = Field(default=DEFAULT_STABILITY_WINDOW, gt=0)
    log_file: Path | None = None
    log_level: str = "INFO"
    kuma_url: str | None = None
    kuma_push_url: str | None = None
    notify_urls: tuple[str, ...] = ()  # "URL" or "tag=URL"
    public_url: str | None = None  # where people reach the service, for links in messages
    max_parallel: int = Field(default=4, ge=1, le=64)  # stacks a CLI graph deploys at once
    timezone: str = "UTC"  # for intents' cron schedules
    missed_runs: Literal["skip", "run-once"] = "skip"  # scheduled runs missed while down
    deploy_windows: str | None = None
    freeze: str | None = None
    git_remote: str = "origin"
    deploy_branch: str = "main"
    repo: Path = Path(".")
    #: Named Docker hosts an intent may deploy to (``host:``/``hosts:``), see hosts.py.
    hosts: dict[str, HostSpec] = Field(default_factory=dict)

    # -- traffic drivers (blue-green) ----------------------------------------------------
    haproxy_socket: Path | None = None  # HAProxy's runtime API socket (level admin)
    haproxy_config: Path | None = None  # the directory chatops writes backends into
    traefik_dir: Path | None = None  # Traefik's file provider directory (watched)
    traefik_api: str | None = Field(default=None, pattern=r"^https?://")  # its API
    npm_url: str | None = Field(default=None, pattern=r"^https?://")  # Nginx Proxy Manager
    npm_email: str | None = None
    npm_password: SecretStr | None = None

    # -- approval (every surface) ------------------------------------------------------
    approved_labels: str = ""
    github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_token: SecretStr | None = None
    github_api: str = Field(default="https://api.github.com", pattern=r"^https?://")
    require_commit: bool | None = None  # default: on when GitHub is configured
    sync: bool = True  # runs without a commit move a Git checkout to the branch head first
    wait_timeout: float = Field(default=3600.0, gt=0)

    # -- the service -------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_key: SecretStr | None = None
    ip_allowlist: str = DEFAULT_ALLOWLIST
    trusted_proxies: str = ""
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
    body_timeout: float = Field(default=10.0, gt=0, le=600)  # the whole body, after the head
    body_min_rate: int = Field(default=256, ge=0, le=10_000_000)  # bytes a second
    keep_alive_timeout: float = Field(default=5.0, gt=0, le=3600)
    max_connections: int = Field(default=512, ge=8, le=100_000)
    max_connections_per_address: int = Field(default=64, ge=1, le=100_000)
    shutdown_grace: float = Field(default=60.0, ge=0)
    security_window: float = Field(default=60.0, gt=0, le=86400)
    github_webhook_secret: SecretStr | None = None

    # -- chat commands (Discord interactions, Slack slash commands) --------------------
    discord_public_key: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    discord_application_id: str | None = Field(default=None, pattern=r"^[0-9]{5,30}$")
    discord_bot_token: SecretStr | None = None
    discord_api: str = Field(default="https://discord.com/api/v10", pattern=r"^https?://")
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api: str = Field(default="https://slack.com/api", pattern=r"^https?://")
    #: Where the bots ask for approvals (with Approve and Deny buttons).
    discord_approval_channel: str | None = Field(default=None, pattern=r"^[0-9]{5,30}$")
    slack_approval_channel: str | None = Field(default=None, pattern=r"^[A-Z0-9]{5,30}$")
    #: Who may do what from chat: {"discord:user:ID" | "discord:role:ID" |
    #: "slack:user:ID" | "slack:group:ID": {"scopes": [...], "intents": "glob",
    #: "stacks": [...]}}
    chat_identities: dict[str, ChatGrant] = Field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting once; ``ConfigError`` naming each wrong variable."""
        if env is None:
            warn_unknown_variables()
        env = os.environ if env is None else env
        data: dict[str, Any] = _config_file(env.get("CHATOPS_CONFIG"))
        for field in cls.model_fields:
            if field == "notify_urls":
                found = [env[n] for n in env_names(field) if env.get(n)]
                if found:
                    data[field] = " ".join(found)
                continue
            name = next((n for n in env_names(field) if n in env), None)
            if name is not None:
                data[field] = env[name]
        data.setdefault("state_dir", default_state_dir(env))
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError("invalid settings: " + "; ".join(
                _problem(err) for err in exc.errors(include_url=False))) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return cls.load(env)

    # -- this host's validators ----------------------------------------------------------

    @field_validator("compose_command", mode="before")
    @classmethod
    def _compose(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_compose_command(value)
        return value

    @field_validator("stability_window", "wait_timeout", mode="before")
    @classmethod
    def _duration(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            if not value.strip():
                return DEFAULT_STABILITY_WINDOW if info.field_name == "stability_window" \
                    else 3600.0
            return parse_duration(value)
        return value

    @field_validator("state_dir", "log_file", "haproxy_socket", "haproxy_config",
                     "traefik_dir", mode="before")
    @classmethod
    def _path(cls, value: object) -> object:
        value = _blank(value)
        return Path(str(value)).expanduser() if value is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        level = str(value or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return level

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return parse_hosts(_table(value, '{"nas": "ssh://root@nas"}'))

    @field_validator("chat_identities", mode="before")
    @classmethod
    def _identities(cls, value: object) -> object:
        value = _table(value, '{"discord:user:123": {"scopes": ["run", "read"]}}')
        if isinstance(value, dict):
            for name in value:
                platform, _, rest = str(name).partition(":")
                kind, _, ident = rest.partition(":")
                kinds = ("user", "role") if platform == "discord" else ("user", "group")
                if platform not in ("discord", "slack") or kind not in kinds or not ident:
                    raise ValueError(f"{name!r}: expected discord:user:ID, discord:role:ID, "
                                     "slack:user:ID or slack:group:ID")
        return value

    @field_validator("discord_public_key", "discord_application_id", "slack_signing_secret",
                     "slack_bot_token", "discord_bot_token", "discord_approval_channel",
                     "slack_approval_channel", mode="before")
    @classmethod
    def _chat_unset(cls, value: object) -> object:
        return _blank(value)

    @field_validator("npm_email", "npm_password", mode="before")
    @classmethod
    def _unset(cls, value: object) -> object:
        return _blank(value)

    @field_validator("kuma_url", mode="before")
    @classmethod
    def _kuma(cls, value: object) -> object:
        value = _blank(value)
        if value is None:
            return None
        if not str(value).startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL of Uptime Kuma, got "
                             f"{value!r}")
        return str(value).rstrip("/")

    @field_validator("kuma_push_url", mode="before")
    @classmethod
    def _push(cls, value: object) -> object:
        value = _blank(value)
        if value is None:
            return None
        if "/api/push/" not in str(value):
            raise ValueError("expected Uptime Kuma's push URL, such as "
                             "http://kuma:3001/api/push/TOKEN")
        return str(value).split("?", 1)[0]

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        urls: list[str] = []
        for item in value.replace(",", " ").split():
            if "://" not in item:
                raise ValueError("expected Apprise URLs such as discord://ID/TOKEN or "
                                 "ntfy://topic; one has no scheme")
            if item not in urls:
                urls.append(item)
        return tuple(urls)

    @field_validator("public_url", "deploy_windows", "freeze", "traefik_api", "npm_url",
                     mode="before")
    @classmethod
    def _optional(cls, value: object) -> object:
        value = _blank(value)
        return str(value).rstrip("/") if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _timezone(value)

    @field_validator("git_remote", "deploy_branch")
    @classmethod
    def _ref(cls, value: str) -> str:
        return _ref_name(value)

    @model_validator(mode="after")
    def _windows(self) -> Settings:
        from chatops.windows import parse_policy  # noqa: PLC0415

        try:
            parse_policy(self.deploy_windows, self.freeze)
        except ValueError as exc:
            raise ValueError(f"CHATOPS_DEPLOY_WINDOWS / CHATOPS_FREEZE: {exc}") from None
        return self

    # -- the service's validators ----------------------------------------------------------

    @field_validator("ip_allowlist", "trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value, "")
        return value

    @field_validator("discord_public_key")
    @classmethod
    def _ed25519(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(set(value.lower())) < 8:
            raise ValueError("is a placeholder, not a key: copy the Public Key from your "
                             "Discord application's General Information page")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PublicKey,
        )

        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
        except ValueError:
            raise ValueError("is not an Ed25519 public key (64 hexadecimal characters from "
                             "your Discord application's General Information page)") from None
        return value

    @field_validator("api_key", "github_webhook_secret", "slack_signing_secret")
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

    # -- derived -----------------------------------------------------------------------

    def policy(self) -> Any:
        from chatops.windows import parse_policy  # noqa: PLC0415

        return parse_policy(self.deploy_windows, self.freeze)

    @property
    def schedules_path(self) -> Path:
        return self.state_dir / "schedules.sqlite3"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "chatops.sqlite3"

    @property
    def socket_path(self) -> Path:
        """Where a running service listens for chatops commands on this host."""
        return self.state_dir / "chatops.sock"

    @property
    def lock_dir(self) -> Path:
        return self.state_dir / "locks"

    def deliverers(self) -> dict[str, Any]:
        """Notification targets configured on this host, by name."""
        targets: dict[str, Any] = {}
        if self.kuma_push_url:
            from chatops.notify.kuma import TARGET, KumaPush  # noqa: PLC0415 - keeps validate fast

            targets[TARGET] = KumaPush(self.kuma_push_url)
        if self.notify_urls:
            from chatops.notify.apprise_target import AppriseTarget  # noqa: PLC0415

            for item in self.notify_urls:
                tag, sep, url = item.partition("=")
                if not sep or "://" in tag:
                    tag, url = "", item
                target = AppriseTarget(url, tag=tag or None)
                targets[target.name] = target
        return targets

    def announcers(self) -> list[Any]:
        """The bots that ask for approvals, with buttons, where they are configured."""
        from chatops.notify.approvals import DiscordBot, SlackBot  # noqa: PLC0415

        found: list[Any] = []
        if self.discord_bot_token is not None and self.discord_approval_channel:
            found.append(DiscordBot(self.discord_api,
                                    self.discord_bot_token.get_secret_value(),
                                    self.discord_approval_channel))
        if self.slack_bot_token is not None and self.slack_approval_channel:
            found.append(SlackBot(self.slack_api, self.slack_bot_token.get_secret_value(),
                                  self.slack_approval_channel))
        return found

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for masking: each ``SecretStr`` setting, and
        the credentials inside notification and push URLs."""
        from chatops.masking import url_secrets  # noqa: PLC0415

        found = [value.get_secret_value() for name in type(self).model_fields
                 if isinstance(value := getattr(self, name), SecretStr)]
        for url in (*self.notify_urls, self.kuma_push_url or ""):
            if url:
                found += url_secrets(url.split("=", 1)[1] if "=" in url.split("://", 1)[0]
                                     else url)
        return found

    @property
    def enforce_github(self) -> bool:
        return bool(self.github_repo and self.github_token)

    @property
    def commit_required(self) -> bool:
        return self.enforce_github if self.require_commit is None else self.require_commit

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.approved_labels.split(",") if p.strip())

    @property
    def http_limits(self) -> HttpLimits:
        from chatops.server.connections import HttpLimits  # noqa: PLC0415 - uvicorn, lazily

        return HttpLimits(max_header_line=self.max_header_line,
                          max_header_bytes=self.max_header_bytes,
                          head_timeout=self.head_timeout,
                          body_timeout=self.body_timeout, body_min_rate=self.body_min_rate,
                          max_connections=self.max_connections,
                          max_connections_per_address=self.max_connections_per_address)

    @property
    def allowlist(self) -> list[Network]:
        return parse_networks(self.ip_allowlist, "ip_allowlist")

    @property
    def proxies(self) -> list[Network]:
        return parse_networks(self.trusted_proxies, "trusted_proxies")

    @property
    def loopback_only(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def load_settings(**overrides: Any) -> Settings:
    """The settings of this process, with command-line flags over the environment."""
    return Settings.load(None, **overrides)


def _problem(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return msg
    names = env_names(loc[0])
    return f"{' / '.join(names)}: {msg}"


def _config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import tomllib  # noqa: PLC0415 - only with a config file

    try:
        with open(path, "rb") as handle:
            return dict(tomllib.load(handle))
    except FileNotFoundError:
        raise ConfigError(f"CHATOPS_CONFIG: no such file {path!r}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"CHATOPS_CONFIG: cannot read {path!r}: {exc}") from None


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - keeps imports lean

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (such as UTC or Europe/Berlin)") \
            from None
    return value


def _ref_name(value: str) -> str:
    import re  # noqa: PLC0415 - settings stay cheap to import for validate

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,100}", value) or ".." in value:
        raise ValueError(f"expected a Git remote or branch name, got {value!r}")
    return value
