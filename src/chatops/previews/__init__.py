"""Previews per pull request: the compose file a preview runs (``compose``), its files
and Compose project (``runner``), the routers that reach it by ``Host`` (``ROUTERS``: one
module per proxy, each registering itself when imported here), and what is said of them
(``listing``). The use cases are ``application.previews``."""

from __future__ import annotations

from chatops.errors import ConfigError
from chatops.previews import haproxy, traefik
from chatops.previews.routes import ROUTERS, Router, RouterKind
from chatops.settings import Settings

KINDS = (haproxy.KIND, traefik.KIND)  # imported for their registration


def router_for(settings: Settings) -> Router:
    """The router ``CHATOPS_PREVIEW_PROXY`` names, built from this host's settings."""
    kind = ROUTERS.get(settings.preview_proxy)
    if kind is None:
        raise ConfigError(f"CHATOPS_PREVIEW_PROXY: unknown proxy {settings.preview_proxy!r};"
                          " known: " + ", ".join(sorted(ROUTERS)),
                          field="CHATOPS_PREVIEW_PROXY")
    return kind.build(settings)


__all__ = ["ROUTERS", "Router", "RouterKind", "router_for"]
