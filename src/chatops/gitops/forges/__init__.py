"""Forges: where pull requests are merged and approved. One module a forge, each named
in ``FORGES`` with how its client is built from the settings (``CHATOPS_FORGE``).

What chatops asks of a forge (``Forge``, in ``base``): the pull request that merged a
commit into the deploy branch, with its labels and who added them, permissions, the
sticky plan comment, commit statuses, a revert pull request, and a verified webhook
delivery. A new forge is one module that implements it and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from msgspec import Struct

from chatops.errors import ConfigError
from chatops.gitops.forges.base import (
    Delivery,
    Forge,
    LabelHistory,
    PullEvent,
    PullRequest,
    PushEvent,
)
from chatops.kinds import import_kind

if TYPE_CHECKING:
    from chatops.settings import Settings


class ForgeKind(Struct, frozen=True):
    """A forge: its module (named after it, imported on first use) has ``client`` and
    ``delivery``."""

    name: str
    summary: str  # one line for the docs' registry table (docs/layout.md)

    def client(self, settings: Settings) -> Forge:
        """The forge's client, from settings that name its repository and token."""
        build: Callable[[Settings], Forge] = import_kind(__name__, self.name).client
        return build(settings)

    def delivery(self, headers: Mapping[str, str], body: bytes, secret: bytes,
                 branch: str) -> Delivery:
        """A webhook delivery verified with the secret and read."""
        read: Callable[[Mapping[str, str], bytes, bytes, str], Delivery] = \
            import_kind(__name__, self.name).delivery
        return read(headers, body, secret, branch)


FORGES: dict[str, ForgeKind] = {
    "github": ForgeKind("github", "GitHub and GitHub Enterprise (REST API)"),
    "gitea": ForgeKind("gitea", "Gitea, Forgejo and Codeberg (API v1)"),
    "gitlab": ForgeKind("gitlab", "GitLab, gitlab.com or self-managed (API v4)"),
}


def forge_of(settings: Settings) -> Forge | None:
    """The forge ``CHATOPS_FORGE`` names, when its repository and token are set."""
    if not settings.forge_repo or settings.forge_token is None:
        return None
    kind = FORGES.get(settings.forge)
    if kind is None:
        raise ConfigError(f"CHATOPS_FORGE: expected one of {', '.join(FORGES)}, got "
                          f"{settings.forge!r}")
    return kind.client(settings)


__all__ = ["FORGES", "Delivery", "Forge", "ForgeKind", "LabelHistory", "PullEvent", "PullRequest",
           "PushEvent", "forge_of"]
