"""The names of the settings: every ``CHATOPS_*`` variable chatops reads, the fields
whose variables have other names, and the warning for a variable nothing reads."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: Every CHATOPS_* variable chatops reads: the host's, the service's (a test keeps these
#: lists and the fields of ``Settings`` together), and the test harness's. Anything else
#: starting with CHATOPS_ is most likely a typo.
HOST_VARIABLES = frozenset({
    "CHATOPS_COMPOSE_COMMAND", "CHATOPS_STATE_DIR", "CHATOPS_STABILITY_WINDOW",
    "CHATOPS_LOG_LEVEL", "CHATOPS_LOG_FILE", "CHATOPS_KUMA_URL", "CHATOPS_KUMA_PUSH_URL",
    "CHATOPS_NOTIFY_URLS", "CHATOPS_PUBLIC_URL", "CHATOPS_TIMEZONE",
    "CHATOPS_DEPLOY_WINDOWS", "CHATOPS_FREEZE", "CHATOPS_MISSED_RUNS", "CHATOPS_MAX_PARALLEL",
    "CHATOPS_GIT_REMOTE", "CHATOPS_DEPLOY_BRANCH", "CHATOPS_REPO", "CHATOPS_CONFIG",
    "CHATOPS_DEBUG", "CHATOPS_URL", "CHATOPS_HAPROXY_SOCKET", "CHATOPS_HAPROXY_CONFIG",
    "CHATOPS_TRAEFIK_DIR", "CHATOPS_TRAEFIK_API", "CHATOPS_NPM_URL", "CHATOPS_NPM_EMAIL",
    "CHATOPS_NPM_PASSWORD", "CHATOPS_HOSTS", "CHATOPS_AGE_KEY_FILE",
    "CHATOPS_AGE_SSH_KEY_FILE", "CHATOPS_SECRETS_TMP", "CHATOPS_SECRET_TIMEOUT",
    "CHATOPS_VAULT_ADDR", "CHATOPS_VAULT_TOKEN", "CHATOPS_VAULT_ROLE_ID",
    "CHATOPS_VAULT_SECRET_ID", "CHATOPS_VAULT_NAMESPACE", "CHATOPS_SECRET_COMMAND",
    "CHATOPS_SECRET_COMMAND_ENV", "CHATOPS_BWS_ACCESS_TOKEN",
    "CHATOPS_OP_SERVICE_ACCOUNT_TOKEN", "CHATOPS_INFISICAL_URL", "CHATOPS_INFISICAL_CLIENT_ID",
    "CHATOPS_INFISICAL_CLIENT_SECRET", "CHATOPS_INFISICAL_PROJECT_ID",
    "CHATOPS_INFISICAL_ENVIRONMENT", "CHATOPS_POLL_INTERVAL", "CHATOPS_FETCH_ALERT_AFTER",
    "CHATOPS_RECONCILE_INTERVAL", "CHATOPS_WATCH_EVENTS",
})
SERVICE_VARIABLES = frozenset({
    "CHATOPS_HOST", "CHATOPS_PORT", "CHATOPS_API_KEY", "CHATOPS_IP_ALLOWLIST",
    "CHATOPS_TRUSTED_PROXIES", "CHATOPS_APPROVED_LABELS", "CHATOPS_MAX_PARALLEL_STACKS",
    "CHATOPS_MAX_BODY_BYTES", "CHATOPS_RATE_PER_ADDRESS", "CHATOPS_BURST_PER_ADDRESS",
    "CHATOPS_RATE_PER_KEY", "CHATOPS_BURST_PER_KEY", "CHATOPS_LOCKOUT_FAILURES",
    "CHATOPS_LOCKOUT_WINDOW", "CHATOPS_LOCKOUT_SECONDS", "CHATOPS_KEY_FAILURE_BUDGET",
    "CHATOPS_MAX_HEADER_LINE", "CHATOPS_MAX_HEADER_BYTES", "CHATOPS_HEAD_TIMEOUT",
    "CHATOPS_BODY_TIMEOUT", "CHATOPS_BODY_MIN_RATE",
    "CHATOPS_KEEP_ALIVE_TIMEOUT", "CHATOPS_MAX_CONNECTIONS",
    "CHATOPS_MAX_CONNECTIONS_PER_ADDRESS", "CHATOPS_SHUTDOWN_GRACE", "CHATOPS_WAIT_TIMEOUT",
    "CHATOPS_SECURITY_WINDOW", "CHATOPS_GITHUB_REPO", "CHATOPS_GITHUB_TOKEN",
    "CHATOPS_GITHUB_API", "CHATOPS_REQUIRE_COMMIT", "CHATOPS_REVERT_PR",
    "CHATOPS_GITHUB_WEBHOOK_SECRET", "CHATOPS_FORGE", "CHATOPS_FORGE_REPO",
    "CHATOPS_PREVIEW_DOMAIN", "CHATOPS_PREVIEW_PROXY", "CHATOPS_PREVIEW_LISTEN",
    "CHATOPS_PREVIEW_PORTS", "CHATOPS_PREVIEW_MAX", "CHATOPS_PREVIEW_LABEL",
    "CHATOPS_FORGE_TOKEN", "CHATOPS_FORGE_URL", "CHATOPS_FORGE_WEBHOOK_SECRET",
    "CHATOPS_LABEL_BY", "CHATOPS_OIDC_ISSUER", "CHATOPS_OIDC_CLIENT_ID",
    "CHATOPS_OIDC_CLIENT_SECRET", "CHATOPS_OIDC_SCOPES", "CHATOPS_OIDC_GROUPS_CLAIM",
    "CHATOPS_SYNC", "CHATOPS_REPO", "CHATOPS_LOG_LEVEL", "CHATOPS_DISCORD_PUBLIC_KEY",
    "CHATOPS_DISCORD_APPLICATION_ID", "CHATOPS_DISCORD_BOT_TOKEN", "CHATOPS_DISCORD_API",
    "CHATOPS_SLACK_SIGNING_SECRET", "CHATOPS_SLACK_BOT_TOKEN", "CHATOPS_CHAT_IDENTITIES",
    "CHATOPS_DISCORD_APPROVAL_CHANNEL", "CHATOPS_SLACK_APPROVAL_CHANNEL", "CHATOPS_SLACK_API",
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


#: The environment variables of a field, when they are not just CHATOPS_<FIELD>.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "approved_labels": ("CHATOPS_APPROVED_LABELS", "APPROVED_LABEL"),
    # The forge's: the CHATOPS_GITHUB_* names of the GitHub-only releases keep working.
    "forge_repo": ("CHATOPS_FORGE_REPO", "CHATOPS_GITHUB_REPO"),
    "forge_token": ("CHATOPS_FORGE_TOKEN", "CHATOPS_GITHUB_TOKEN"),
    "forge_url": ("CHATOPS_FORGE_URL", "CHATOPS_GITHUB_API"),
    "forge_webhook_secret": ("CHATOPS_FORGE_WEBHOOK_SECRET", "CHATOPS_GITHUB_WEBHOOK_SECRET"),
    "log_level": ("CHATOPS_LOG_LEVEL", "LOG_LEVEL"),
    "notify_urls": ("CHATOPS_NOTIFY_URLS", "DISCORD_WEBHOOK_URL"),
    # SOPS's own names work too: a host set up for sops needs nothing new.
    "age_key_file": ("CHATOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE"),
    "age_ssh_key_file": ("CHATOPS_AGE_SSH_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"),
    # ... and each secret manager's own.
    "vault_addr": ("CHATOPS_VAULT_ADDR", "VAULT_ADDR"),
    "vault_token": ("CHATOPS_VAULT_TOKEN", "VAULT_TOKEN"),
    "vault_namespace": ("CHATOPS_VAULT_NAMESPACE", "VAULT_NAMESPACE"),
    "bws_access_token": ("CHATOPS_BWS_ACCESS_TOKEN", "BWS_ACCESS_TOKEN"),
    "op_service_account_token": ("CHATOPS_OP_SERVICE_ACCOUNT_TOKEN",
                                 "OP_SERVICE_ACCOUNT_TOKEN"),
}


#: Keys of a CHATOPS_CONFIG file written for the GitHub-only releases, by their new name.
OLD_KEYS = {"github_repo": "forge_repo", "github_token": "forge_token",
            "github_api": "forge_url", "github_webhook_secret": "forge_webhook_secret"}


def env_names(field: str) -> tuple[str, ...]:
    return ENV_NAMES.get(field, (f"CHATOPS_{field.upper()}",))
