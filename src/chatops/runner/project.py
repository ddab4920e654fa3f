"""What Compose says a project is: ``docker compose -f FILE config --format json``.

Asking Compose (rather than reading the YAML ourselves) gets the project name, images
and replica counts exactly as Compose will use them: .env files, interpolation,
profiles and ``name:`` included. It also proves the file valid before anything changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatops.errors import ChatopsError


class ComposeConfigError(ChatopsError):
    """The compose file is invalid, or Compose could not read it."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    replicas: int
    healthcheck: bool


@dataclass(frozen=True)
class ComposeProject:
    name: str
    file: Path
    sha256: str
    services: dict[str, ServiceSpec]

    def pick(self, service: str | None) -> list[str]:
        if service is None:
            return sorted(self.services)
        if service not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise ComposeConfigError(
                f"service {service!r} is not defined in {self.file} (services: {known})"
            )
        return [service]


def config_argv(compose_command: tuple[str, ...], file: Path) -> tuple[str, ...]:
    return (*compose_command, "-f", str(file), "config", "--format", "json")


def parse_config(text: str, file: Path, content: bytes) -> ComposeProject:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComposeConfigError(f"compose config of {file} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services", {}), dict):
        raise ComposeConfigError(f"compose config of {file} has no services mapping")
    name = str(data.get("name") or file.parent.name)
    services: dict[str, ServiceSpec] = {}
    for svc, raw in (data.get("services") or {}).items():
        spec = raw if isinstance(raw, dict) else {}
        replicas = (spec.get("deploy") or {}).get("replicas")
        if replicas is None:
            replicas = spec.get("scale", 1)
        health = spec.get("healthcheck") or {}
        services[svc] = ServiceSpec(
            name=svc,
            image=str(spec.get("image") or f"{name}-{svc}"),
            replicas=int(replicas),
            healthcheck=bool(health) and not health.get("disable", False)
            and health.get("test") not in (["NONE"], "NONE"),
        )
    return ComposeProject(name=name, file=file, sha256=hashlib.sha256(content).hexdigest(),
                          services=services)
