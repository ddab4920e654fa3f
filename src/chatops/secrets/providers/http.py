"""What the providers that speak HTTP share: one TLS context per process (loading the
system's CA certificates costs tens of milliseconds: a run should not pay it), and one
way to ask and to say why an answer cannot be used, naming the reference."""

from __future__ import annotations

from typing import Any

import httpx

from chatops import tls
from chatops.errors import SecretError
from chatops.secrets.references import Reference


def client(base_url: str, timeout: float) -> httpx.Client:
    # The environment's proxy settings are taken, as a secret provider's client always did.
    return tls.client(base_url=base_url, timeout=timeout, trust_env=True)


def request_json(client: httpx.Client, ref: Reference, method: str, path: str, *,
                 service: str, missing: str, refused: str, about: str = "",
                 **kwargs: Any) -> dict[str, Any]:
    """``service``'s JSON answer (an object) to ``method path``; ``SecretError`` naming
    ``ref`` when it cannot be had: ``missing`` for a 404, ``refused`` for a 401 or 403,
    ``about`` added to what is said of any other answer."""
    where = str(client.base_url).rstrip("/")
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TimeoutException:
        timeout = client.timeout.read or 0.0
        raise SecretError(f"{ref}: {service} at {where} did not answer within "
                          f"{timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise SecretError(f"{ref}: {service} at {where} cannot be reached: "
                          f"{type(exc).__name__}") from None
    if response.status_code == 404:
        raise SecretError(f"{ref}: {missing}")
    if response.status_code in (401, 403):
        raise SecretError(f"{ref}: {refused} (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise SecretError(f"{ref}: {service} answered HTTP {response.status_code}{about}")
    try:
        body = response.json()
    except ValueError:
        raise SecretError(f"{ref}: {service}'s answer{about} is not JSON") from None
    return body if isinstance(body, dict) else {}
