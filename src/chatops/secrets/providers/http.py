"""The HTTP client of the providers that speak HTTP: one TLS context per process (loading
the system's CA certificates costs tens of milliseconds: a run should not pay it)."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def client(base_url: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout, verify=tls_context())
