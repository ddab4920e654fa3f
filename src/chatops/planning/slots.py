"""Blue-green slots as Compose sees them: one project per slot, its port in the environment.

Pure: names and argv only. The slot project of service ``web`` in stack ``shop`` is
``shop-web-blue`` (or ``-green``); every Compose command for it carries ``-p`` and runs
with ``CHATOPS_SLOT`` and ``CHATOPS_SLOT_PORT`` set, so the compose file can say
``${CHATOPS_SLOT_PORT}`` where the service binds its port.
"""

from __future__ import annotations

import re
from pathlib import Path

from chatops.intents.traffic import Traffic

SLOT_VARIABLE = "CHATOPS_SLOT"
PORT_VARIABLE = "CHATOPS_SLOT_PORT"
IDLE = "<idle slot>"


def slot_project(stack: str, service: str, slot: str) -> str:
    """A Compose project name (lowercase letters, digits, ``-`` and ``_``)."""
    base = re.sub(r"[^a-z0-9_-]", "-", f"{stack}-{service}".lower())
    return f"{base}-{slot}"


def slot_env(traffic: Traffic, slot: str) -> dict[str, str]:
    port = getattr(traffic.ports, slot, None)
    return {SLOT_VARIABLE: slot, PORT_VARIABLE: str(port) if port else f"<{slot} port>"}


def slot_compose(cmd: tuple[str, ...], file: Path, project: str, *args: str
                 ) -> tuple[str, ...]:
    return (*cmd, "-p", project, "-f", str(file), *args)


def config(cmd: tuple[str, ...], file: Path, project: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "config", "--format", "json")


def pull(cmd: tuple[str, ...], file: Path, project: str, service: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "pull", service)


def up(cmd: tuple[str, ...], file: Path, project: str, service: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "up", "-d", "--no-deps", service)


def start(cmd: tuple[str, ...], file: Path, project: str, service: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "start", service)


def stop(cmd: tuple[str, ...], file: Path, project: str, service: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "stop", service)


def remove(cmd: tuple[str, ...], file: Path, project: str, service: str) -> tuple[str, ...]:
    return slot_compose(cmd, file, project, "rm", "--stop", "--force", service)
