"""Settings read once from ``CHATOPS_*`` environment variables, validated loudly."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatops.durations import parse_duration
from chatops.errors import ConfigError
from chatops.paths import default_state_dir

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


#: Every CHATOPS_* variable chatops reads: the host's (below), the service's
#: (``server.settings.ServerSettings``; a test keeps the two lists together), and the
#: test harness's. Anything else starting with CHATOPS_ is most likely a typo.
HOST_VARIABLES = frozenset({
    "CHATOPS_COMPOSE_COMMAND", "CHATOPS_STATE_DIR", "CHATOPS_STABILITY_WINDOW",
    "CHATOPS_LOG_LEVEL", "CHATOPS_LOG_FILE", "CHATOPS_KUMA_URL", "CHATOPS_KUMA_PUSH_URL",
    "CHATOPS_NOTIFY_URLS", "CHATOPS_PUBLIC_URL", "CHATOPS_TIMEZONE",
    "CHATOPS_DEPLOY_WINDOWS", "CHATOPS_FREEZE", "CHATOPS_MISSED_RUNS", "CHATOPS_MAX_PARALLEL",
    "CHATOPS_GIT_REMOTE", "CHATOPS_DEPLOY_BRANCH", "CHATOPS_REPO", "CHATOPS_CONFIG",
    "CHATOPS_DEBUG", "CHATOPS_URL",
})
SERVICE_VARIABLES = frozenset({
    "CHATOPS_HOST", "CHATOPS_PORT", "CHATOPS_API_KEY", "CHATOPS_IP_ALLOWLIST",
    "CHATOPS_TRUSTED_PROXIES", "CHATOPS_APPROVED_LABELS", "CHATOPS_MAX_PARALLEL_STACKS",
    "CHATOPS_MAX_BODY_BYTES", "CHATOPS_RATE_PER_ADDRESS", "CHATOPS_BURST_PER_ADDRESS",
    "CHATOPS_RATE_PER_KEY", "CHATOPS_BURST_PER_KEY", "CHATOPS_LOCKOUT_FAILURES",
    "CHATOPS_LOCKOUT_WINDOW", "CHATOPS_LOCKOUT_SECONDS", "CHATOPS_KEY_FAILURE_BUDGET",
    "CHATOPS_MAX_HEADER_LINE", "CHATOPS_MAX_HEADER_BYTES", "CHATOPS_HEAD_TIMEOUT",
    "CHATOPS_KEEP_ALIVE_TIMEOUT", "CHATOPS_MAX_CONNECTIONS",
    "CHATOPS_MAX_CONNECTIONS_PER_ADDRESS", "CHATOPS_SHUTDOWN_GRACE", "CHATOPS_WAIT_TIMEOUT",
    "CHATOPS_SECURITY_WINDOW", "CHATOPS_GITHUB_REPO", "CHATOPS_GITHUB_TOKEN",
    "CHATOPS_GITHUB_API", "CHATOPS_REQUIRE_COMMIT", "CHATOPS_GITHUB_WEBHOOK_SECRET",
    "CHATOPS_SYNC", "CHATOPS_REPO", "CHATOPS_LOG_LEVEL",
})
HARNESS_VARIABLES = frozenset({
    "CHATOPS_REQUIRE_DOCKER", "CHATOPS_REQUIRE_TOOLS", "CHATOPS_DOCKER_UNAVAILABLE",
    "CHATOPS_HARNESS_DIR", "CHATOPS_PIP_SPEC", "CHATOPS_TEST_REGISTRY", "CHATOPS_FUZZ_RANDOM",
})
KNOWN_VARIABLES = HOST_VARIABLES | SERVICE_VARIABLES | HARNESS_VARIABLES


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """One line for each CHATOPS_* variable chatops does not read, with a guess."""
    import difflib  # noqa: PLC0415 - only when there is something to say

    env = os.environ if env is None else env
    lines = []
    for name in sorted(n for n in env if n.startswith("CHATOPS_") and n not in KNOWN_VARIABLES):
        guess = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1, cutoff=0.75)
        hint = f"; did you mean {guess[0]}?" if guess else ""
        lines.append(f"{name} is not a chatops setting{hint}")
    return lines


_WARNED = False


def warn_unknown_variables(env: Mapping[str, str] | None = None) -> None:
    """Say once per process which CHATOPS_* variables nothing reads (a typo is silent)."""
    global _WARNED  # noqa: PLW0603 - once per process, whoever reads the settings first
    if _WARNED:
        return
    _WARNED = True
    for line in unknown_variables(env):
        sys.stderr.write(f"warning: {line}\n")


DEFAULT_STABILITY_WINDOW = 2.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    state_dir: Path = Path("/var/lib/chatops")
    stability_window: float = DEFAULT_STABILITY_WINDOW
    log_file: Path | None = None
    log_level: str = "INFO"
    kuma_url: str | None = None
    kuma_push_url: str | None = None
    notify_urls: tuple[str, ...] = ()  # "URL" or "tag=URL"
    public_url: str | None = None  # where people reach the service, for links in messages
    max_parallel: int = 4  # stacks an orchestrated CLI run deploys at once
    timezone: str = "UTC"  # for intents' cron schedules
    missed_runs: str = "skip"  # or "run-once": scheduled runs missed while down
    deploy_windows: str | None = None
    freeze: str | None = None

    def policy(self) -> Any:
        from chatops.windows import parse_policy  # noqa: PLC0415

        return parse_policy(self.deploy_windows, self.freeze)
    git_remote: str = "origin"
    deploy_branch: str = "main"

    @property
    def schedules_path(self) -> Path:
        return self.state_dir / "schedules.sqlite3"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    def deliverers(self) -> dict[str, Any]:
        """Notification targets configured on this host, by name."""
        targets: dict[str, Any] = {}
        if self.kuma_push_url:
            from chatops.notify.kuma import TARGET, KumaPush  # noqa: PLC0415 - keeps validate fast

            targets[TARGET] = KumaPush(self.kuma_push_url)
        if self.notify_urls:
            from chatops.notify.apprise_target import AppriseTarget  # noqa: PLC0415

            for item in self.notify_urls:
                tag, sep, url = item.partition("=")
                if not sep or "://" in tag:
                    tag, url = "", item
                target = AppriseTarget(url, tag=tag or None)
                targets[target.name] = target
        return targets

    @property
    def db_path(self) -> Path:
        return self.state_dir / "chatops.sqlite3"

    @property
    def socket_path(self) -> Path:
        """Where a running service listens for chatops commands on this host."""
        return self.state_dir / "chatops.sock"

    @property
    def lock_dir(self) -> Path:
        return self.state_dir / "locks"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        if env is None:
            warn_unknown_variables()
        env = os.environ if env is None else env
        raw = env.get("CHATOPS_COMPOSE_COMMAND")
        compose = DEFAULT_COMPOSE_COMMAND if raw is None else parse_compose_command(raw)
        window = DEFAULT_STABILITY_WINDOW
        if env.get("CHATOPS_STABILITY_WINDOW"):
            try:
                window = parse_duration(env["CHATOPS_STABILITY_WINDOW"])
            except ValueError as exc:
                raise ConfigError(f"CHATOPS_STABILITY_WINDOW: {exc}") from None
        level = (env.get("CHATOPS_LOG_LEVEL") or env.get("LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ConfigError(
                f"LOG_LEVEL / CHATOPS_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, "
                f"got {level!r}"
            )
        log_file = env.get("CHATOPS_LOG_FILE")
        kuma = env.get("CHATOPS_KUMA_URL") or None
        if kuma is not None and not kuma.startswith(("http://", "https://")):
            raise ConfigError(f"CHATOPS_KUMA_URL: expected an http:// or https:// URL of "
                              f"Uptime Kuma, got {kuma!r}")
        push = env.get("CHATOPS_KUMA_PUSH_URL") or None
        if push is not None and "/api/push/" not in push:
            raise ConfigError("CHATOPS_KUMA_PUSH_URL: expected Uptime Kuma's push URL, "
                              "such as http://kuma:3001/api/push/TOKEN")
        urls: list[str] = []
        for item in (f"{env.get('CHATOPS_NOTIFY_URLS', '')} "
                     f"{env.get('DISCORD_WEBHOOK_URL', '')}").replace(",", " ").split():
            if "://" not in item:
                raise ConfigError("CHATOPS_NOTIFY_URLS / DISCORD_WEBHOOK_URL: expected Apprise "
                                  "URLs such as discord://ID/TOKEN or ntfy://topic; one has no "
                                  "scheme")
            if item not in urls:
                urls.append(item)
        return cls(
            compose_command=compose,
            state_dir=Path(default_state_dir(env)).expanduser(),
            stability_window=window,
            log_file=Path(log_file).expanduser() if log_file else None,
            log_level=level,
            kuma_url=kuma.rstrip("/") if kuma else None,
            kuma_push_url=push.split("?", 1)[0] if push else None,
            notify_urls=tuple(urls),
            public_url=(env.get("CHATOPS_PUBLIC_URL") or "").rstrip("/") or None,
            timezone=_timezone(env.get("CHATOPS_TIMEZONE", "UTC")),
            deploy_windows=_windows(env.get("CHATOPS_DEPLOY_WINDOWS"), env.get("CHATOPS_FREEZE"))
            [0],
            freeze=env.get("CHATOPS_FREEZE") or None,
            missed_runs=_choice(env.get("CHATOPS_MISSED_RUNS", "skip"), "CHATOPS_MISSED_RUNS",
                                ("skip", "run-once")),
            max_parallel=_bounded_int(env.get("CHATOPS_MAX_PARALLEL", "4"),
                                      "CHATOPS_MAX_PARALLEL", 1, 64),
            git_remote=_ref_name(env.get("CHATOPS_GIT_REMOTE", "origin"), "CHATOPS_GIT_REMOTE"),
            deploy_branch=_ref_name(env.get("CHATOPS_DEPLOY_BRANCH", "main"),
                                    "CHATOPS_DEPLOY_BRANCH"),
        )


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - keeps imports lean

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CHATOPS_TIMEZONE: unknown time zone {value!r} (such as UTC or "
                          "Europe/Berlin)") from None
    return value


def _windows(windows: str | None, freeze: str | None) -> tuple[str | None, str | None]:
    from chatops.windows import parse_policy  # noqa: PLC0415

    try:
        parse_policy(windows, freeze)
    except ValueError as exc:
        raise ConfigError(f"CHATOPS_DEPLOY_WINDOWS / CHATOPS_FREEZE: {exc}") from None
    return windows or None, freeze or None


def _choice(value: str, source: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{source}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _bounded_int(value: str, source: str, lo: int, hi: int) -> int:
    if not value.strip().isdigit() or not lo <= int(value) <= hi:
        raise ConfigError(f"{source}: expected a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def _ref_name(value: str, source: str) -> str:
    import re  # noqa: PLC0415 - settings stay cheap to import for validate

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,100}", value) or ".." in value:
        raise ConfigError(f"{source}: expected a Git remote or branch name, got {value!r}")
    return value
