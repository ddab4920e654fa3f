"""Chat platforms: one module a platform, each registering its surface (``POST
/chat/{name}``: its signed requests read, its answers shaped) and its approval bot.

Importing this package imports every module in it (as the health-gate kinds do). A new
platform is one module here, and its settings in ``settings/chat.py`` (with its identity
kinds in ``identities.IDENTITY_KINDS``, which a test holds to the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatops.kinds import import_all

if TYPE_CHECKING:
    from chatops.chat.surface import ChatSurface
    from chatops.notify.approvals import Announcer
    from chatops.settings import Settings

REGISTRY: dict[str, type[ChatSurface]] = {}


def register(platform: type[ChatSurface]) -> type[ChatSurface]:
    if platform.name in REGISTRY:
        raise ValueError(f"a chat platform {platform.name!r} is registered already")
    REGISTRY[platform.name] = platform
    return platform


def announcers(settings: Settings) -> list[Announcer]:
    """The bots that ask for approvals, with buttons, where they are configured."""
    return [bot for platform in REGISTRY.values()
            if (bot := platform.announcer(settings)) is not None]


import_all(__name__)  # each platform registers itself

__all__ = ["REGISTRY", "announcers", "register"]
