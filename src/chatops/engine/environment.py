"""What a child process sees of the service's environment: an allowlist, never the whole.

The service holds secrets in its environment (the API key, forge tokens, the webhook and
Slack signing secrets, bot tokens, the Nginx Proxy Manager password). A hook or a Compose
command is code from the repository: it gets what it needs to work (the program search
path, home, locale, the engine's ``DOCKER_*`` and Compose's tuning variables) and the
variables chatops hands it on purpose (the documented ``CHATOPS_*`` run variables, the
intent's ``env:``, a named host's vars), and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

#: Passed through as they are: what any program needs to run as the service's user.
PASSED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    # The engine, as the docker CLI and Compose read it.
    "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION", "DOCKER_BUILDKIT", "DOCKER_DEFAULT_PLATFORM",
    "BUILDKIT_PROGRESS",
    # Compose's own tuning (never COMPOSE_PROJECT_NAME or COMPOSE_FILE: chatops names both).
    "COMPOSE_HTTP_TIMEOUT", "COMPOSE_PARALLEL_LIMIT", "COMPOSE_STATUS_STDOUT",
    "COMPOSE_ANSI", "COMPOSE_MENU",
})
PASSED_PREFIXES = ("LC_",)


def child_env(extra: Mapping[str, str] | None = None, *,
              source: Mapping[str, str] | None = None,
              prefixes: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a child: the allowlisted variables of ``source`` (this
    process's environment), those starting with one of ``prefixes``, then ``extra``,
    which chatops chose to give it."""
    source = os.environ if source is None else source
    allowed = (*PASSED_PREFIXES, *prefixes)
    env = {k: v for k, v in source.items() if k in PASSED or k.startswith(allowed)}
    env.setdefault("PATH", os.defpath)
    if extra:
        env.update(extra)
    return env
