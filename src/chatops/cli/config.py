"""The settings of one ``chatops`` command: read once per invocation from the environment
and ``CHATOPS_CONFIG`` (as the service reads them), and shared by everything it calls."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatops.settings import Settings

KEY = "chatops.settings"


def current_settings() -> Settings:
    """This invocation's settings (a fresh read outside a Click command: Click not even
    imported, as for ``chatops run NAME``). Imported when first asked: ``chatops
    validate`` of a folder never reads them."""
    from chatops.settings import Settings

    click = sys.modules.get("click")
    ctx = None if click is None else click.get_current_context(silent=True)
    if ctx is None:
        return Settings.load()
    root = ctx.find_root()
    found = root.meta.get(KEY)
    if not isinstance(found, Settings):
        found = root.meta[KEY] = Settings.load()
    return found
