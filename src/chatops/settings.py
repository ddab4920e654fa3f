"""Settings read once from ``CHATOPS_*`` environment variables, validated loudly."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from chatops.errors import ConfigError

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


@dataclass(frozen=True)
class Settings:
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw = env.get("CHATOPS_COMPOSE_COMMAND")
        compose = DEFAULT_COMPOSE_COMMAND if raw is None else parse_compose_command(raw)
        return cls(compose_command=compose)
