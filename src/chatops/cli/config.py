"""The settings of one ``chatops`` command: read once per invocation from the environment
and ``CHATOPS_CONFIG`` (as the service reads them), and shared by everything it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from chatops.settings import Settings

KEY = "chatops.settings"


def current_settings() -> Settings:
    """This invocation's settings (a fresh read outside a Click command). Imported when
    first asked: ``chatops validate`` of a folder never reads them."""
    from chatops.settings import Settings

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return Settings.load()
    root = ctx.find_root()
    found = root.meta.get(KEY)
    if not isinstance(found, Settings):
        found = root.meta[KEY] = Settings.load()
    return found
