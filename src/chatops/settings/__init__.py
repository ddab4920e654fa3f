"""Every setting of chatops, read once at start and passed down: data in sections.

Values come from, highest first: the arguments of ``Settings.load`` (command-line flags),
the environment (``CHATOPS_*``, and the seed's ``APPROVED_LABEL``, ``LOG_LEVEL`` and
``DISCORD_WEBHOOK_URL``), and a TOML file named by ``CHATOPS_CONFIG`` (keys are the field
names, at the top or under their section: ``[deploy]``, ``[notify]``, ``[traffic]``,
``[approval]``, ``[server]``, ``[chat]``, ``[secrets]``). Every problem names the
variable and what was expected; a ``CHATOPS_*`` variable nothing reads is reported with a guess.

The sections are data: nothing here imports what the settings configure. What is built
from them (notification targets, approval bots, HTTP limits) is built by the module it
belongs to, from the settings it is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError, model_validator

from chatops.errors import ConfigError
from chatops.masking import url_secrets
from chatops.paths import SECTIONS as FILE_SECTIONS
from chatops.paths import StatePaths, read_config
from chatops.settings.chat import ChatGrant, ChatSettings
from chatops.settings.names import OLD_KEYS, env_names, warn_unknown_variables
from chatops.settings.sections import (
    ApprovalSettings,
    DeploySettings,
    NotifySettings,
    SecretsSettings,
    Section,
    TrafficSettings,
)
from chatops.settings.server import ServerSettings
from chatops.settings.values import DEFAULT_COMPOSE_COMMAND, Network
from chatops.windows import Policy, parse_policy

#: Each section by the name a ``CHATOPS_CONFIG`` file groups its keys under.
SECTIONS: dict[str, type[Section]] = {
    "deploy": DeploySettings, "notify": NotifySettings, "traffic": TrafficSettings,
    "approval": ApprovalSettings, "server": ServerSettings, "chat": ChatSettings,
    "secrets": SecretsSettings,
}
assert tuple(SECTIONS) == FILE_SECTIONS  # noqa: S101 - the file reader's list is this one


class Settings(DeploySettings, NotifySettings, TrafficSettings, ApprovalSettings,
               ServerSettings, ChatSettings, SecretsSettings):
    """Every setting, for the CLI and the service alike (the service's own are unused by
    the commands that do not serve)."""

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting once; ``ConfigError`` naming each wrong variable."""
        if env is None:
            warn_unknown_variables()
        env = os.environ if env is None else env
        try:
            data: dict[str, Any] = read_config(env.get("CHATOPS_CONFIG"))
        except ValueError as exc:
            raise ConfigError(f"CHATOPS_CONFIG: {exc}") from None
        for old, new in OLD_KEYS.items():
            if old in data:
                data.setdefault(new, data.pop(old))
        for field in cls.model_fields:
            if field == "notify_urls":
                found = [env[n] for n in env_names(field) if env.get(n)]
                if found:
                    data[field] = " ".join(found)
                continue
            name = next((n for n in env_names(field) if n in env), None)
            if name is not None:
                data[field] = env[name]
        data.setdefault("state_dir", StatePaths.resolve(env).root)
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError("invalid settings: " + "; ".join(
                _problem(err) for err in exc.errors(include_url=False))) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return cls.load(env)

    @model_validator(mode="after")
    def _windows(self) -> Settings:
        try:
            parse_policy(self.deploy_windows, self.freeze)
        except ValueError as exc:
            raise ValueError(f"CHATOPS_DEPLOY_WINDOWS / CHATOPS_FREEZE: {exc}") from None
        return self

    def policy(self) -> Policy:
        return parse_policy(self.deploy_windows, self.freeze)

    @property
    def paths(self) -> StatePaths:
        """Every file in the state directory."""
        return StatePaths(self.state_dir)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for masking: each ``SecretStr`` setting, and
        the credentials inside notification and push URLs."""
        found = [value.get_secret_value() for name in type(self).model_fields
                 if isinstance(value := getattr(self, name), SecretStr)]
        for url in (*self.notify_urls, self.kuma_push_url or ""):
            if url:
                found += url_secrets(url.split("=", 1)[1] if "=" in url.split("://", 1)[0]
                                     else url)
        return found


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


__all__ = ["DEFAULT_COMPOSE_COMMAND", "SECTIONS", "ChatGrant", "Network", "Settings",
           "load_settings"]
