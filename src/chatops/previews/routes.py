"""How a preview is reached: the proxy in front of every preview sends a request whose
``Host`` is one of a preview's names to that preview's loopback port. One router per
proxy (``CHATOPS_PREVIEW_PROXY``), found by name in ``ROUTERS``; each module of this
package registers its own (the package imports them all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct

from chatops.errors import ConfigError

if TYPE_CHECKING:
    from chatops.settings import Settings


class Router(Protocol):
    name: str

    async def check(self) -> None:
        """Raise ``ProxyUnavailableError`` or ``TrafficError`` (naming what to do) unless
        the proxy answers and is set up for previews."""

    async def add(self, hosts: tuple[str, ...], port: int) -> None:
        """Route each of ``hosts`` to ``127.0.0.1:port``; confirmed when it returns."""

    async def remove(self, hosts: tuple[str, ...], port: int) -> None:
        """Route them nowhere (the proxy answers 404); confirmed when it returns."""

    def configuration(self) -> list[tuple[str, str]]:
        """(path, text) of each file chatops writes once for the proxy to load (none
        when it needs none)."""

    async def close(self) -> None: ...


class RouterKind(Struct, frozen=True):
    name: str
    build: Callable[[Settings], Router]
    setup: str  # what the proxy needs once, in words


ROUTERS: dict[str, RouterKind] = {}


def register(kind: RouterKind) -> RouterKind:
    ROUTERS[kind.name] = kind
    return kind


def listen_of(settings: Settings) -> str:
    if settings.preview_listen is None:
        raise ConfigError("CHATOPS_PREVIEW_LISTEN is not set: the HOST:PORT the proxy "
                          "takes previews' requests on", field="CHATOPS_PREVIEW_LISTEN")
    return settings.preview_listen


def backend(port: int) -> str:
    """The proxy-side name of the preview on ``port``."""
    return f"chatops_preview_{port}"
