"""Infisical: its API, with a machine identity's universal auth.

``secret://infisical/FOLDER/NAME`` reads secret NAME in folder ``/FOLDER`` (``/`` when
the path has one part) of ``CHATOPS_INFISICAL_PROJECT_ID``, in environment
``CHATOPS_INFISICAL_ENVIRONMENT`` (default ``prod``): one login per run
(``POST /api/v1/auth/universal-auth/login``), then ``GET /api/v3/secrets/raw/NAME``.
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


@dataclass(frozen=True, kw_only=True)
class Infisical:
    url: str  # without a trailing slash
    client_id: str
    client_secret: str = field(repr=False)
    project: str
    environment: str
    timeout: float

    def _call(self, client: httpx.Client, ref: Reference, method: str, path: str,
              **kwargs: Any) -> dict[str, Any]:
        return request_json(client, ref, method, path, service="Infisical",
                            missing="Infisical has no such secret",
                            refused="Infisical refused the machine identity", **kwargs)

    def fetch(self, refs: Sequence[Reference]) -> dict[Reference, str]:
        values: dict[Reference, str] = {}
        with client_for(self.url, self.timeout) as client:
            login = self._call(client, refs[0], "POST", "/api/v1/auth/universal-auth/login",
                               json={"clientId": self.client_id,
                                     "clientSecret": self.client_secret})
            token = login.get("accessToken")
            if not isinstance(token, str) or not token:
                raise SecretError(f"{refs[0]}: Infisical's login gave no access token")
            for ref in refs:
                folder, _, name = ref.path.rpartition("/")
                body = self._call(
                    client, ref, "GET", f"/api/v3/secrets/raw/{name}",
                    headers={"Authorization": f"Bearer {token}"},
                    params={"workspaceId": self.project, "environment": self.environment,
                            "secretPath": "/" + folder})
                value = (body.get("secret") or {}).get("secretValue")
                if not isinstance(value, str):
                    raise SecretError(f"{ref}: Infisical's answer holds no secretValue")
                values[ref] = value
        return values


def build(settings: Settings) -> Infisical:
    secret = settings.infisical_client_secret
    if not (settings.infisical_client_id and secret and settings.infisical_project_id):
        raise SecretError("secret://infisical/... needs CHATOPS_INFISICAL_CLIENT_ID, "
                          "CHATOPS_INFISICAL_CLIENT_SECRET and CHATOPS_INFISICAL_PROJECT_ID")
    return Infisical(url=settings.infisical_url.rstrip("/"),
                     client_id=settings.infisical_client_id,
                     client_secret=secret.get_secret_value(),
                     project=settings.infisical_project_id,
                     environment=settings.infisical_environment,
                     timeout=settings.secret_timeout)
