"""``docker compose`` run as the Compose plugin itself, found where the docker CLI finds it.

Asked for ``docker compose``, the docker CLI starts, lists its plugins (running
``docker-compose docker-cli-plugin-metadata``), and only then runs Compose: about 30 ms
on every call before Compose does anything. Compose installed as a CLI plugin also runs
on its own (``docker-compose -f FILE up -d``, its documented standalone use), reading the
engine's address, context and configuration (``DOCKER_HOST``, ``DOCKER_CONTEXT``,
``DOCKER_CONFIG``) as it does under the CLI. So a command that starts with exactly
``docker compose`` runs the plugin the CLI would run: the first ``docker-compose`` in the
CLI's own order (the configuration directory's ``cli-plugins``, the
``cliPluginsExtraDirs`` of its ``config.json``, then the system directories). Without
``docker`` on the search path, or without the plugin, the command runs as written. Any
other compose command (``CHATOPS_COMPOSE_COMMAND``, e.g. ``/usr/bin/docker compose`` to
go through the CLI anyway) runs as written.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Where the docker CLI looks for plugins after the user's own (Linux).
SYSTEM_DIRS = (
    "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
)


def plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    """The docker CLI's plugin directories, in its order, for a child with ``env``."""
    if env.get("DOCKER_CONFIG"):
        config = Path(env["DOCKER_CONFIG"])
    else:
        config = Path(env.get("HOME") or os.path.expanduser("~")) / ".docker"
    dirs = [config / "cli-plugins"]
    try:
        extra = json.loads((config / "config.json").read_bytes()).get("cliPluginsExtraDirs")
    except (OSError, ValueError, AttributeError):  # none, unreadable, or not an object
        extra = None
    if isinstance(extra, list):
        dirs += [Path(d) for d in extra if isinstance(d, str)]
    return [*dirs, *(Path(d) for d in SYSTEM_DIRS)]


def direct(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    """``argv`` to execute: ``docker compose ARGS`` as ``PLUGIN ARGS`` when the CLI would
    run that plugin, anything else as it is."""
    argv = tuple(argv)
    if argv[:2] != ("docker", "compose") or shutil.which("docker", path=env.get("PATH")) \
            is None:
        return argv
    for folder in plugin_dirs(env):
        plugin = folder / "docker-compose"
        if plugin.is_file() and os.access(plugin, os.X_OK):
            return (str(plugin), *argv[2:])
    return argv
