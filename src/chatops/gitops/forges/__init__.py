"""Forges: where pull requests are merged and approved. One module a forge, each named
in ``FORGES`` with how its client is built from the settings.

What chatops asks of a forge (``Forge``): the pull request that merged a commit into the
deploy branch, with its labels (the approval), and the sticky plan comment on a pull
request. A new forge is one module that implements it and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chatops.gitops.forges import github
from chatops.gitops.forges.github import PullRequest

if TYPE_CHECKING:
    from chatops.settings import Settings


class Forge(Protocol):
    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        """The pull request that merged ``sha`` into ``branch``, or None."""

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        """Create or update chatops's comment (found by ``marker``); (its id, created)."""

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str) -> tuple[int, str]:
        """A pull request into ``base`` reverting its head ``sha``; (number, URL)."""


@dataclass(frozen=True)
class ForgeKind:
    name: str
    summary: str  # one line for the README's table
    #: The forge's client when the settings name its repository and token, else None.
    client: Callable[[Settings], Forge | None]


FORGES: dict[str, ForgeKind] = {
    "github": ForgeKind("github", "GitHub and GitHub Enterprise (REST API)", github.client),
}


def forge_of(settings: Settings) -> Forge | None:
    """The first forge the settings configure (only GitHub, until there are others)."""
    return next((f for kind in FORGES.values() if (f := kind.client(settings)) is not None),
                None)


__all__ = ["FORGES", "Forge", "ForgeKind", "PullRequest", "forge_of"]
