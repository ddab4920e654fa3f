"""Previews per pull request: the compose file a preview runs (``compose``), its files
and Compose project (``runner``), the routers that reach it by ``Host`` (``ROUTERS``: one
module per proxy, each registering itself when ``registered`` imports it, on first
need), and what is said of them (``listing``). The use cases are ``application.previews``."""

from __future__ import annotations

from chatops.errors import ConfigError
from chatops.kinds import import_all
from chatops.previews.routes import ROUTERS, Router, RouterKind
from chatops.settings import Settings


def registered() -> dict[str, RouterKind]:
    """Every router: each module of this package imported once (a proxy's registers its
    router; the others register nothing)."""
    import_all(__name__)
    return ROUTERS


def router_for(settings: Settings) -> Router:
    """The router ``CHATOPS_PREVIEW_PROXY`` names, built from this host's settings."""
    kind = registered().get(settings.preview_proxy)
    if kind is None:
        raise ConfigError(f"CHATOPS_PREVIEW_PROXY: unknown proxy {settings.preview_proxy!r};"
                          " known: " + ", ".join(sorted(ROUTERS)),
                          field="CHATOPS_PREVIEW_PROXY")
    return kind.build(settings)


__all__ = ["ROUTERS", "Router", "RouterKind", "registered", "router_for"]
