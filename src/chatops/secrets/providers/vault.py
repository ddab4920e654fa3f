"""HashiCorp Vault and OpenBao: KV version 2 over HTTP.

``secret://vault/MOUNT/PATH#KEY`` reads field KEY of the secret at PATH in the KV v2
engine mounted at MOUNT (``secret://vault/secret/shop/db#password`` is
``GET /v1/secret/data/shop/db``). Without ``#KEY`` the secret must hold one field. One
request per secret, on one connection; a token (``CHATOPS_VAULT_TOKEN`` or
``VAULT_TOKEN``), or an AppRole login (``CHATOPS_VAULT_ROLE_ID`` and
``CHATOPS_VAULT_SECRET_ID``) once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from chatops.errors import SecretError
from chatops.secrets.providers.http import client as client_for
from chatops.secrets.providers.http import request_json
from chatops.secrets.references import Reference

if TYPE_CHECKING:
    from chatops.settings import Settings


def pick(ref: Reference, data: dict[str, Any], where: str) -> str:
    """A field of a secret: ``#KEY``, or its only field."""
    if ref.key is None:
        if len(data) != 1:
            fields = ", ".join(sorted(data)) or "none"
            raise SecretError(f"{ref}: {where} has {len(data)} fields ({fields}); name one "
                              "with #KEY")
        return str(next(iter(data.values())))
    if ref.key not in data:
        fields = ", ".join(sorted(data)) or "none"
        raise SecretError(f"{ref}: {where} has no field {ref.key!r} (fields: {fields})")
    value = data[ref.key]
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True, kw_only=True)
class Vault:
    addr: str  # without a trailing slash
    token: str | None = field(repr=False)
    role_id: str | None
    secret_id: str | None = field(repr=False)
    namespace: str | None
    timeout: float

    def _headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        return headers

    def _login(self, client: httpx.Client, first: Reference) -> str:
        if self.token:
            return self.token
        answer = self._call(client, first, "POST", "/v1/auth/approle/login",
                            json={"role_id": self.role_id, "secret_id": self.secret_id})
        token = (answer.get("auth") or {}).get("client_token")
        if not isinstance(token, str) or not token:
            raise SecretError(f"{first}: Vault's AppRole login at {self.addr} gave no token")
        return token

    def _call(self, client: httpx.Client, ref: Reference, method: str, path: str, *,
              token: str | None = None, json: Any = None) -> dict[str, Any]:
        return request_json(client, ref, method, path, service="Vault",
                            missing=f"Vault has no secret at {path}",
                            refused=f"Vault refused the token for {path}",
                            about=f" for {path}", headers=self._headers(token), json=json)

    def fetch(self, refs: Sequence[Reference]) -> dict[Reference, str]:
        values: dict[Reference, str] = {}
        by_path: dict[str, list[Reference]] = {}
        for ref in refs:
            mount, _, rest = ref.path.partition("/")
            if not rest:
                raise SecretError(f"{ref}: expected secret://vault/MOUNT/PATH#KEY (the KV "
                                  "v2 engine's mount, then the secret's path)")
            by_path.setdefault(f"/v1/{mount}/data/{rest}", []).append(ref)
        with client_for(self.addr, self.timeout) as client:
            token = self._login(client, refs[0])
            for path, group in by_path.items():
                body = self._call(client, group[0], "GET", path, token=token)
                data = (body.get("data") or {}).get("data")
                if not isinstance(data, dict):
                    raise SecretError(f"{group[0]}: Vault's answer for {path} holds no KV v2 "
                                      "data (is the mount KV version 2?)")
                for ref in group:
                    values[ref] = pick(ref, data, f"the secret at {path}")
        return values


def build(settings: Settings) -> Vault:
    if not settings.vault_addr:
        raise SecretError("secret://vault/... needs CHATOPS_VAULT_ADDR (or VAULT_ADDR)")
    token = settings.vault_token.get_secret_value() if settings.vault_token else None
    secret_id = (settings.vault_secret_id.get_secret_value()
                 if settings.vault_secret_id else None)
    if not token and not (settings.vault_role_id and secret_id):
        raise SecretError("secret://vault/... needs CHATOPS_VAULT_TOKEN (or VAULT_TOKEN), "
                          "or CHATOPS_VAULT_ROLE_ID and CHATOPS_VAULT_SECRET_ID (AppRole)")
    return Vault(addr=settings.vault_addr.rstrip("/"), token=token,
                 role_id=settings.vault_role_id,
                 secret_id=secret_id, namespace=settings.vault_namespace,
                 timeout=settings.secret_timeout)
