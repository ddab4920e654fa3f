"""What Compose says a project is: ``docker compose -f FILE config --format json``.

Asking Compose (rather than reading the YAML ourselves) gets the project name, images
and replica counts exactly as Compose will use them: .env files, interpolation,
profiles and ``name:`` included. It also proves the file valid before anything changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct

from chatops.compose_refs import file_refs
from chatops.errors import ChatopsError


class ComposeConfigError(ChatopsError):
    """The compose file is invalid, or Compose could not read it."""


class ServiceSpec(Struct, frozen=True):
    name: str
    image: str
    replicas: int
    healthcheck: bool


class ComposeProject(Struct, frozen=True):
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


#: The files a compose file names that Compose reads to read it.
READ_WITH = frozenset({"include", "include env_file", "env_file", "extends"})


def reading_key(argv: tuple[str, ...], file: Path, content: bytes,
                env: Mapping[str, str]) -> str | None:
    """What Compose's reading of ``file`` depends on, as one hash: the command (``argv``:
    Compose, the project, the file),
    the environment (interpolation), every file beside it (``.env`` and the like: name,
    size, modification time) and the files it names elsewhere (``env_file``,
    ``extends``, ``include``). None when that cannot be told (then Compose is asked)."""
    import yaml  # noqa: PLC0415

    digest = hashlib.sha256()
    for part in (*argv, str(file)):
        digest.update(part.encode() + b"\0")
    digest.update(content + b"\0")
    for name, value in sorted(env.items()):
        digest.update(f"{name}={value}\0".encode())
    try:
        folder = file.parent
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and entry.name != file.name:  # its content is hashed above
                st = entry.stat()
                digest.update(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        data = yaml.safe_load(content)
        for path in sorted(_named_files(data)):
            target = (folder / path) if not os.path.isabs(path) else Path(path)
            try:
                st = target.stat()
                digest.update(f"{target}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
            except FileNotFoundError:
                digest.update(f"{target}\0missing\0".encode())
    except (OSError, yaml.YAMLError, ValueError, TypeError):
        return None
    return digest.hexdigest()


def _named_files(data: Any) -> set[str]:
    """Paths a compose file names that its reading depends on: ``include`` (and the
    ``env_file`` it gives), services' ``env_file`` and ``extends.file``."""
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    return {ref.path for ref in file_refs(data) if ref.kind in READ_WITH}
