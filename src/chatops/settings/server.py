"""The service's own settings: where it listens, who may call it, and the limits that
keep it up under abuse (``chatops serve`` reads them; other commands do not use them)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from chatops.settings.sections import Section
from chatops.settings.values import DEFAULT_ALLOWLIST, SECRETS, Network, parse_networks, weak_secret


class ServerSettings(Section):
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
    forge_webhook_secret: SecretStr | None = None
    #: Dashboard sign-in with OpenID Connect (the provider's issuer URL, this client).
    oidc_issuer: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$")
    oidc_client_id: str | None = Field(default=None, min_length=1, max_length=255)
    oidc_client_secret: SecretStr | None = None
    #: The provider's groups (``group:NAME``) and people (``user:NAME``) to dashboard
    #: scopes, as JSON: ``{"group:ops": ["read", "run", "approve"]}``.
    oidc_scopes: str = "{}"
    oidc_groups_claim: str = Field(default="groups", pattern=r"^[A-Za-z0-9_:/.-]{1,100}$")

    @model_validator(mode="after")
    def _oidc_whole(self) -> ServerSettings:
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_client_secret):
            raise ValueError("CHATOPS_OIDC_ISSUER needs CHATOPS_OIDC_CLIENT_ID and "
                             "CHATOPS_OIDC_CLIENT_SECRET (from the provider's client)")
        return self

    @field_validator("ip_allowlist", "trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value, "")
        return value

    @field_validator("api_key", "forge_webhook_secret", "oidc_client_secret")
    @classmethod
    def _strong(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return strong(value, info)

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


def strong(value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
    """A secret setting that is one: long, random, not a placeholder (never quoted)."""
    if value is not None:
        minimum, advice = SECRETS[info.field_name or ""]
        weak = weak_secret(value.get_secret_value(), minimum)
        if weak:
            raise ValueError(f"{weak}; {advice}")
    return value
