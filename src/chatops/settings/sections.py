"""The sections of the settings that every command reads: this host's deploys, its
notifications, its traffic drivers, its secrets, and approval. Each is data with its own validators;
``Settings`` is their union (and ``CHATOPS_CONFIG`` may group keys under their names)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from chatops.approvers import ANY, rule_problem
from chatops.durations import parse_duration
from chatops.hosts import HostSpec, parse_hosts
from chatops.paths import default_state_dir
from chatops.settings.values import (
    DEFAULT_COMPOSE_COMMAND,
    DEFAULT_STABILITY_WINDOW,
    LOG_LEVELS,
    OptionalPath,
    OptionalText,
    blank,
    optional_path,
    parse_compose_command,
    ref_name,
    table,
    time_zone,
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DeploySettings(Section):
    """How this host deploys: Compose, its state, the Git checkout, windows, named hosts."""

    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    state_dir: Annotated[Path, BeforeValidator(optional_path)] = Field(
        default_factory=lambda: Path(default_state_dir()).expanduser())
    stability_window: float = Field(default=DEFAULT_STABILITY_WINDOW, gt=0)
    max_parallel: int = Field(default=4, ge=1, le=64)  # stacks a CLI graph deploys at once
    timezone: str = "UTC"  # for intents' cron schedules
    missed_runs: Literal["skip", "run-once"] = "skip"  # scheduled runs missed while down
    deploy_windows: OptionalText = None
    freeze: OptionalText = None
    git_remote: str = "origin"
    deploy_branch: str = "main"
    repo: Path = Path(".")
    #: Named Docker hosts an intent may deploy to (``host:``/``hosts:``), see hosts.py.
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    sync: bool = True  # runs without a commit move a Git checkout to the branch head first
    wait_timeout: float = Field(default=3600.0, gt=0)
    #: Pull mode: fetch the deploy branch this often and deploy what it brings (off: None).
    poll_interval: float | None = Field(default=None, ge=1, le=86400)
    fetch_alert_after: int = Field(default=3, ge=1, le=1000)  # failed fetches in a row
    #: A drift pass this often in the service (each intent's ``reconcile`` says what to
    #: do about it); None: never.
    reconcile_interval: float | None = Field(default=60.0, ge=1, le=86400)
    #: Runtime alerts: the service reads each engine's events (a container that dies...).
    watch_events: bool = True

    @field_validator("poll_interval", "reconcile_interval", mode="before")
    @classmethod
    def _poll(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            return None if text in ("", "off", "0", "none") else parse_duration(value)
        return value

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


    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return parse_hosts(table(value, '{"nas": "ssh://root@nas"}'))


    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)

    @field_validator("git_remote", "deploy_branch")
    @classmethod
    def _ref(cls, value: str) -> str:
        return ref_name(value)


class NotifySettings(Section):
    """Where this host tells what it did: the log, chat and push targets, Uptime Kuma."""

    log_file: OptionalPath = None
    log_level: str = "INFO"
    kuma_url: str | None = None
    kuma_push_url: str | None = None
    notify_urls: tuple[str, ...] = ()  # "URL" or "tag=URL"
    public_url: OptionalText = None  # where people reach the service, for links in messages


    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        level = str(value or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return level

    @field_validator("kuma_url", "kuma_push_url", mode="before")
    @classmethod
    def _kuma(cls, value: object, info: ValidationInfo) -> object:
        value = blank(value)
        if value is None:
            return None
        text = str(value)
        if info.field_name == "kuma_push_url":
            if "/api/push/" not in text:
                raise ValueError("expected Uptime Kuma's push URL, such as "
                                 "http://kuma:3001/api/push/TOKEN")
            return text.split("?", 1)[0]
        if not text.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL of Uptime Kuma, got "
                             f"{value!r}")
        return text.rstrip("/")

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



class TrafficSettings(Section):
    """The traffic drivers a blue-green or canary deploy switches."""

    haproxy_socket: OptionalPath = None  # HAProxy's runtime API socket (level admin)
    haproxy_config: OptionalPath = None  # the directory chatops writes backends into
    traefik_dir: OptionalPath = None  # Traefik's file provider directory (watched)
    traefik_api: OptionalText = Field(default=None, pattern=r"^https?://")  # its API
    npm_url: OptionalText = Field(default=None, pattern=r"^https?://")  # Nginx Proxy Manager
    npm_email: str | None = None
    npm_password: SecretStr | None = None
    #: Previews per pull request: each answers at pr-N.DOMAIN through this proxy.
    preview_domain: OptionalText = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9.-]*"
                                         r"[a-z0-9])?$")
    preview_proxy: str = Field(default="haproxy", pattern=r"^(haproxy|traefik)$")
    #: HOST:PORT of the proxy's preview frontend (HAProxy) or entry point (Traefik).
    preview_listen: OptionalText = Field(default=None, pattern=r"^.+:\d{1,5}$")
    #: Loopback ports previews are published on, FIRST-LAST (one per preview).
    preview_ports: str = Field(default="18000-18099", pattern=r"^\d{1,5}-\d{1,5}$")
    preview_max: int = Field(default=10, ge=1, le=500)  # at most this many at once
    preview_label: str = Field(default="preview", pattern=r"^[^\r\n\t]{1,50}$")

    @field_validator("npm_email", "npm_password", mode="before")
    @classmethod
    def _unset(cls, value: object) -> object:
        return blank(value)

    @field_validator("preview_ports")
    @classmethod
    def _range(cls, value: str) -> str:
        first, last = (int(p) for p in value.split("-"))
        if not 1024 <= first <= last <= 65535:
            raise ValueError("expected FIRST-LAST with 1024 <= FIRST <= LAST <= 65535")
        return value

    @property
    def preview_port_range(self) -> range:
        first, last = (int(p) for p in self.preview_ports.split("-"))
        return range(first, last + 1)



class SecretsSettings(Section):
    """Secrets kept in Git: the age identities that open SOPS files, and where a run's
    decrypted files live (a private directory in memory, removed when the step ends)."""

    age_key_file: OptionalPath = None  # or SOPS_AGE_KEY_FILE: an age identity file
    age_ssh_key_file: OptionalPath = None  # or SOPS_AGE_SSH_PRIVATE_KEY_FILE
    #: Where decrypted files are staged: a tmpfs (default /dev/shm, else the state dir).
    secrets_tmp: OptionalPath = None
    #: Secret managers, for ``secret://PROVIDER/PATH#KEY`` values (secrets/providers).
    secret_timeout: float = Field(default=10.0, gt=0, le=300)
    vault_addr: OptionalText = Field(default=None, pattern=r"^https?://")  # or VAULT_ADDR
    vault_token: SecretStr | None = None  # or VAULT_TOKEN
    vault_role_id: OptionalText = None  # AppRole, instead of a token
    vault_secret_id: SecretStr | None = None
    vault_namespace: OptionalText = None  # Vault Enterprise / OpenBao namespaces
    secret_command: tuple[str, ...] = ()  # argv; the reference's path is its last argument
    secret_command_env: tuple[str, ...] = ()  # variables of ours that command may see
    bws_access_token: SecretStr | None = None  # Bitwarden Secrets Manager (bws)
    op_service_account_token: SecretStr | None = None  # 1Password (op)
    infisical_url: str = Field(default="https://app.infisical.com", pattern=r"^https?://")
    infisical_client_id: OptionalText = None  # universal auth (machine identity)
    infisical_client_secret: SecretStr | None = None
    infisical_project_id: OptionalText = None
    infisical_environment: str = "prod"

    @field_validator("vault_token", "vault_secret_id", "bws_access_token",
                     "op_service_account_token", "infisical_client_secret", mode="before")
    @classmethod
    def _blank_secret(cls, value: object) -> object:
        return blank(value)

    @field_validator("secret_command", mode="before")
    @classmethod
    def _argv(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_compose_command(value, "CHATOPS_SECRET_COMMAND") if value.strip() \
                else ()
        return value

    @field_validator("secret_command_env", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(n.strip() for n in value.split(",") if n.strip())
        return value


class ApprovalSettings(Section):
    """What every surface checks before a run: the labels, and where to read them."""

    approved_labels: str = ""
    #: Which forge (``gitops.forges.FORGES``): github, gitea (Forgejo too), gitlab.
    forge: str = "github"
    forge_repo: str | None = Field(default=None,
                                   pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    forge_token: SecretStr | None = None
    #: The forge's address (GitHub: its API base; default api.github.com, gitlab.com).
    forge_url: str | None = Field(default=None, pattern=r"^https?://")
    #: Who may add an approving label, when an intent does not say (``label_by``):
    #: rules separated by commas, or ``any`` (whoever added it, as before).
    label_by: str = "permission:write"
    require_commit: bool | None = None  # default: on when a forge is configured
    #: After a pushed deploy is rolled back, open a pull request reverting its commit.
    revert_pr: bool = False

    @field_validator("forge_token")
    @classmethod
    def _token_present(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty: set a token that can read pull requests, or "
                             "remove the variable")
        return value

    @field_validator("label_by")
    @classmethod
    def _label_by(cls, value: str) -> str:
        if value.strip() == ANY:
            return ANY
        rules = [r.strip() for r in value.split(",") if r.strip()]
        problems = [p for r in rules if (p := rule_problem(r))]
        if problems or not rules:
            raise ValueError(problems[0] if problems else "is empty: set rules or 'any'")
        return ",".join(rules)

    @property
    def enforce_forge(self) -> bool:
        return bool(self.forge_repo and self.forge_token)

    @property
    def commit_required(self) -> bool:
        return self.enforce_forge if self.require_commit is None else self.require_commit

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.approved_labels.split(",") if p.strip())
