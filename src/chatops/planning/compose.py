"""Argv for Compose and the engine CLI. Every command is a list; nothing is shell-quoted."""

from __future__ import annotations

from pathlib import Path


def compose(cmd: tuple[str, ...], file: Path, *args: str) -> tuple[str, ...]:
    return (*cmd, "-f", str(file), *args)


def only(service: str | None) -> tuple[str, ...]:
    return (service,) if service else ()


def pull(cmd: tuple[str, ...], file: Path, service: str | None) -> tuple[str, ...]:
    return compose(cmd, file, "pull", *only(service))


def up(
    cmd: tuple[str, ...], file: Path, service: str | None, *, scale: str | None = None
) -> tuple[str, ...]:
    # --no-deps: with a service named, touch only that service (Compose would
    # otherwise recreate the services it depends on too).
    args: list[str] = ["up", "-d"]
    if service:
        args.append("--no-deps")
    if scale is not None and service:
        args += ["--scale", f"{service}={scale}"]
    return compose(cmd, file, *args, *only(service))


def restart(cmd: tuple[str, ...], file: Path, service: str | None) -> tuple[str, ...]:
    return compose(cmd, file, "restart", *only(service))


def stop(cmd: tuple[str, ...], file: Path, service: str | None) -> tuple[str, ...]:
    return compose(cmd, file, "stop", *only(service))


def down(cmd: tuple[str, ...], file: Path) -> tuple[str, ...]:
    # Never --volumes: data outlives a deploy.
    return compose(cmd, file, "down")


def remove(cmd: tuple[str, ...], file: Path, services: list[str]) -> tuple[str, ...]:
    """Stop and remove the containers of services that did not exist before the run."""
    return compose(cmd, file, "rm", "--stop", "--force", *services)


def restore(
    cmd: tuple[str, ...], file: Path, replicas: dict[str, int] | dict[str, str]
) -> tuple[str, ...]:
    """``up -d --no-deps`` with each service's replica count from a snapshot."""
    args: list[str] = ["up", "-d", "--no-deps"]
    for service, count in sorted(replicas.items()):
        args += ["--scale", f"{service}={count}"]
    return compose(cmd, file, *args, *sorted(replicas))
