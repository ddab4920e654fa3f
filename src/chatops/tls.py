"""One TLS context per process for every HTTP client chatops makes. Building one loads a
CA bundle (about 25 ms on this project's machines): a webhook, a health gate or a forge
request should not pay that each time. It trusts the system's certificate authorities
(Debian's ca-certificates, and whatever the host added with update-ca-certificates)."""

from __future__ import annotations

import ssl
from functools import cache


@cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
