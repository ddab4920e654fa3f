"""The HTTP clients chatops makes, made one way: one TLS context per process for all of
them (building one loads a CA bundle, about 25 ms on this project's machines: a webhook,
a health gate or a forge request should not pay that each time; it trusts the system's
certificate authorities, Debian's ca-certificates and whatever the host added with
update-ca-certificates), and no proxy, netrc or CA taken from the environment
(``trust_env=False``: a request goes where the intent or the setting says). httpx is
imported by the first client, never by a command that makes none.

A client that will only request ``http://`` URLs (a health gate on plain HTTP, which
follows no redirect) is made with ``tls=False``: its context trusts no certificate
authority, so it costs nothing to make and could never complete a TLS handshake."""

from __future__ import annotations

import ssl
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


@cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@cache
def no_tls_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and trusts no one


def async_client(*, tls: bool = True, **options: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**options)``, with the process's TLS context (or, without
    ``tls``, one that trusts no one) and without the environment's proxies (unless
    ``options`` say otherwise)."""
    import httpx  # noqa: PLC0415

    verify = tls_context() if tls else no_tls_context()
    return httpx.AsyncClient(**{"trust_env": False, "verify": verify, **options})


def client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)``, made as ``async_client`` makes its clients."""
    import httpx  # noqa: PLC0415

    return httpx.Client(**{"trust_env": False, "verify": tls_context(), **options})
