"""``--check-compose``: ask Compose itself whether each referenced file is valid."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chatops.engine.environment import child_env

COMPOSE_CONFIG_TIMEOUT = 60.0


def compose_config_argv(compose_command: tuple[str, ...], path: Path) -> list[str]:
    return [*compose_command, "-f", str(path), "config", "--quiet"]


def check_one(compose_command: tuple[str, ...], path: Path) -> str | None:
    """``None`` when Compose accepts ``path``, else what it said (one line)."""
    if not path.is_file():
        return f"compose file {path} does not exist"
    from chatops.secrets.documents import sops_format  # noqa: PLC0415

    try:
        if sops_format(path.read_bytes()) is not None:
            return None  # encrypted: Compose reads it when a run has decrypted it
    except OSError as exc:
        return f"cannot read compose file {path}: {exc.strerror}"
    argv = compose_config_argv(compose_command, path)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMPOSE_CONFIG_TIMEOUT,
            check=False, stdin=subprocess.DEVNULL, env=child_env(),
        )
    except FileNotFoundError:
        return f"cannot run {' '.join(compose_command)}: {compose_command[0]} is not installed"
    except subprocess.TimeoutExpired:
        return f"{' '.join(argv)} did not finish within {COMPOSE_CONFIG_TIMEOUT:g}s"
    if done.returncode == 0:
        return None
    lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
    detail = lines[-1] if lines else f"exit code {done.returncode}"
    return f"{' '.join(compose_command)} config rejected {path}: {detail[:500]}"


def check_compose_files(
    compose_command: tuple[str, ...], paths: Iterable[Path]
) -> dict[Path, str | None]:
    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda p: check_one(compose_command, p), unique)
        return dict(zip(unique, results, strict=True))
