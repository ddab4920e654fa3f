"""Chat commands and approvals: Discord interactions and Slack slash commands, their
bots, and who may do what from chat."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from chatops.identities import IDENTITY_KINDS, chat_shapes
from chatops.settings.sections import Section
from chatops.settings.server import strong
from chatops.settings.values import blank, table


class ChatGrant(BaseModel):
    """What one chat identity may do: the same scopes as an API key's."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    scopes: tuple[Literal["run", "rollback", "read", "approve"], ...] = ("read",)
    intents: str = Field(default="*", min_length=1, max_length=200)
    stacks: tuple[str, ...] = ()


class ChatSettings(Section):
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

    @property
    def approval_bots(self) -> bool:
        """Is any platform's approval bot configured (its token and its channel)?"""
        return any(getattr(self, f"{p}_bot_token") and getattr(self, f"{p}_approval_channel")
                   for p in IDENTITY_KINDS)

    @field_validator("chat_identities", mode="before")
    @classmethod
    def _identities(cls, value: object) -> object:
        value = table(value, '{"discord:user:123": {"scopes": ["run", "read"]}}')
        if isinstance(value, dict):
            for name in value:
                platform, _, rest = str(name).partition(":")
                kind, _, ident = rest.partition(":")
                if kind not in IDENTITY_KINDS.get(platform, ()) or not ident:
                    shapes = ", ".join(chat_shapes())
                    raise ValueError(f"{name!r}: expected one of {shapes}")
        return value

    @field_validator("discord_public_key", "discord_application_id", "slack_signing_secret",
                     "slack_bot_token", "discord_bot_token", "discord_approval_channel",
                     "slack_approval_channel", mode="before")
    @classmethod
    def _chat_unset(cls, value: object) -> object:
        return blank(value)

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

    @field_validator("slack_signing_secret")
    @classmethod
    def _strong_chat(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return strong(value, info)
