"""Dashboard sign-in with OpenID Connect: any provider (Keycloak, Authentik, Authelia,
Dex, Google) and the forges that are providers (Gitea, Forgejo, GitLab).

The authorization code flow with PKCE (S256), through Authlib's client: ``/ui/login/oidc``
makes a state, a nonce and a code verifier, keeps them for ten minutes (the state also in
an HttpOnly cookie, so the callback comes from the browser that started), and sends the
browser to the provider. ``/ui/oidc/callback`` takes the state once, exchanges the code
(with the verifier and the client secret), and checks the ID token with the provider's
published keys (JWKS, from its discovery document): its signature, issuer, audience,
expiry and nonce. The provider's groups (``CHATOPS_OIDC_GROUPS_CLAIM``) and the person
map to dashboard scopes (``CHATOPS_OIDC_SCOPES``); a person they map to none is refused.
The person becomes ``oidc:NAME`` in the run history and the audit trail, and the audit
record of the sign-in names the issuer and subject. Local users stay as a fallback.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from msgspec import Struct

from chatops.application.caller import request_facts
from chatops.errors import (
    ChatopsError,
    ConfigError,
    OidcNoScopeError,
    OidcRefusedError,
    OidcUnavailableError,
)
from chatops.tls import async_client
from chatops.web.users import SCOPES, SESSION_COOKIE, SESSION_HOURS, Session, UserStore, same

if TYPE_CHECKING:
    from chatops.application.wiring import Services
    from chatops.settings import Settings

STATE_COOKIE = "chatops_oidc"
PENDING_SECONDS = 600.0
PENDING_MAX = 1000
DISCOVERY_SECONDS = 3600.0


def scope_map(raw: str) -> dict[str, tuple[str, ...]]:
    """``CHATOPS_OIDC_SCOPES`` read and checked: ``group:NAME`` or ``user:NAME`` to a list
    of dashboard scopes. ``ConfigError`` naming what is wrong."""
    try:
        found = json.loads(raw or "{}")
    except ValueError as exc:
        raise ConfigError(f"CHATOPS_OIDC_SCOPES: not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise ConfigError('CHATOPS_OIDC_SCOPES: expected an object like {"group:ops": '
                          '["read", "run"]}')
    out: dict[str, tuple[str, ...]] = {}
    for who, scopes in found.items():
        if not str(who).startswith(("group:", "user:")) or len(str(who)) < 6:
            raise ConfigError(f"CHATOPS_OIDC_SCOPES: {who!r} must be group:NAME or "
                              "user:NAME")
        if not isinstance(scopes, list) or not all(s in SCOPES for s in scopes):
            raise ConfigError(f"CHATOPS_OIDC_SCOPES: {who!r} must map to a list of "
                              f"{', '.join(SCOPES)}")
        out[str(who)] = tuple(scopes)
    return out


class Identity(Struct, frozen=True):
    subject: str
    name: str
    groups: tuple[str, ...]


@dataclass
class Pending:
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    next: str
    until: float


class Pages(Protocol):
    """What the sign-in routes use of the dashboard."""

    s: Services
    users: UserStore
    globals: dict[str, Any]  # given to every template

    def page(self, request: Request, template: str, status: int = 200,
             session: Session | None = None, **values: Any) -> HTMLResponse: ...

    def refuse(self, request: Request, status: int, code: str, reason: str,
               who: str | None = None) -> None: ...


class OidcSignIn:
    def __init__(self, settings: Settings) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id \
                or settings.oidc_client_secret is None:
            raise ConfigError("CHATOPS_OIDC_ISSUER needs CHATOPS_OIDC_CLIENT_ID and "
                              "CHATOPS_OIDC_CLIENT_SECRET")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret.get_secret_value()
        self.groups_claim = settings.oidc_groups_claim
        self.scopes = scope_map(settings.oidc_scopes)
        self.public_url = settings.public_url
        self._pending: dict[str, Pending] = {}
        self._discovery: tuple[float, dict[str, Any], Any] | None = None

    def _client(self, redirect_uri: str) -> Any:
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():  # Authlib 1.6+ points httpx users at httpx2
            warnings.simplefilter("ignore", DeprecationWarning)
            from authlib.integrations.httpx_client import (  # noqa: PLC0415 - with OIDC
                AsyncOAuth2Client,
            )

        return AsyncOAuth2Client(self.client_id, self._secret, redirect_uri=redirect_uri,
                                 scope="openid profile email", timeout=10.0,
                                 code_challenge_method="S256", trust_env=False)

    async def discovery(self) -> tuple[dict[str, Any], Any]:
        """The provider's configuration and key set (cached for an hour)."""
        import httpx  # noqa: PLC0415
        from joserfc.jwk import KeySet  # noqa: PLC0415

        if self._discovery is not None and self._discovery[0] > time.monotonic():
            return self._discovery[1], self._discovery[2]
        try:
            async with async_client(timeout=10.0) as client:
                meta = (await client.get(f"{self.issuer}/.well-known/openid-configuration")
                        ).raise_for_status().json()
                jwks = (await client.get(meta["jwks_uri"])).raise_for_status().json()
            keys = KeySet.import_key_set(jwks)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise OidcUnavailableError(f"the identity provider {self.issuer} cannot be "
                                       f"read: {type(exc).__name__}") from None
        if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcUnavailableError(f"the provider's discovery document names issuer "
                                       f"{meta.get('issuer')!r}, not {self.issuer!r}")
        self._discovery = (time.monotonic() + DISCOVERY_SECONDS, meta, keys)
        return meta, keys

    def redirect_uri(self, request: Request) -> str:
        base = self.public_url.rstrip("/") if self.public_url else str(
            request.base_url).rstrip("/")
        return f"{base}/ui/oidc/callback"

    async def start(self, request: Request, next_page: str) -> Response:
        meta, _ = await self.discovery()
        now = time.monotonic()
        self._pending = {k: p for k, p in self._pending.items() if p.until > now}
        if len(self._pending) >= PENDING_MAX:
            raise OidcUnavailableError("too many sign-ins are in progress; try again in "
                                       "a few minutes")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        async with self._client(self.redirect_uri(request)) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, nonce=nonce,
                code_verifier=verifier)
        self._pending[state] = Pending(nonce, verifier, next_page, now + PENDING_SECONDS)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(STATE_COOKIE, state, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/ui/oidc",
                            max_age=int(PENDING_SECONDS))
        return response

    async def finish(self, request: Request) -> tuple[Identity, str]:
        """The person the provider vouches for, and the page to go on to."""
        from joserfc import jwt  # noqa: PLC0415
        from joserfc.errors import JoseError  # noqa: PLC0415

        query = request.query_params
        if query.get("error"):
            raise OidcRefusedError(f"the provider said {query.get('error')!r}: "
                                f"{query.get('error_description', '')[:200]}")
        state, cookie = query.get("state", ""), request.cookies.get(STATE_COOKIE, "")
        if not state or not cookie or not same(state, cookie):
            raise OidcRefusedError("the sign-in's state does not match this browser's (start "
                                "again from the sign-in page)")
        pending = self._pending.pop(state, None)
        if pending is None or pending.until < time.monotonic():
            raise OidcRefusedError("this sign-in was used or expired; start again")
        meta, keys = await self.discovery()
        try:
            async with self._client(self.redirect_uri(request)) as client:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=query.get("code", ""),
                    code_verifier=pending.verifier, grant_type="authorization_code")
        except Exception as exc:
            raise OidcRefusedError(f"the provider refused the code: {type(exc).__name__}: "
                                f"{str(exc)[:200]}") from None
        try:
            decoded = jwt.decode(str(token.get("id_token", "")), keys,
                                 algorithms=["RS256", "ES256", "PS256", "EdDSA"])
            jwt.JWTClaimsRegistry(
                leeway=60, iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": pending.nonce},
                sub={"essential": True}, exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcRefusedError(f"the ID token is not valid: {exc}") from None
        claims = decoded.claims
        groups = claims.get(self.groups_claim) or ()
        name = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
        return Identity(str(claims["sub"]), name[:100],
                        tuple(str(g) for g in groups if isinstance(g, str | int))
                        if isinstance(groups, list) else ()), pending.next

    def scopes_of(self, who: Identity) -> tuple[str, ...]:
        found = {s for key in (f"user:{who.name}", f"user:{who.subject}",
                               *(f"group:{g}" for g in who.groups))
                 for s in self.scopes.get(key, ())}
        return tuple(s for s in SCOPES if s in found)


def register_oidc(api: FastAPI, ui: Pages, next_of: Any, secure: Any) -> None:
    """The sign-in routes, when the settings configure a provider (checked now)."""
    settings = ui.s.settings
    if not settings.oidc_issuer:
        return
    oidc = OidcSignIn(settings)
    ui.globals["OIDC"] = True

    async def refused(request: Request, exc: ChatopsError) -> Response:
        request.scope["state"]["audited"] = True
        ui.refuse(request, exc.status, exc.code, exc.message, None)
        return ui.page(request, "error.html", exc.status, message=exc.message,
                       code=exc.code)

    @api.get("/ui/login/oidc", include_in_schema=False)
    async def oidc_start(request: Request) -> Response:
        try:
            return await oidc.start(request, next_of(request.query_params.get("next")))
        except ChatopsError as exc:
            return await refused(request, exc)

    @api.get("/ui/oidc/callback", include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        try:
            who, next_page = await oidc.finish(request)
            scopes = oidc.scopes_of(who)
            if not scopes:
                raise OidcNoScopeError(f"{who.name} (subject {who.subject}) signed in, but "
                                       "CHATOPS_OIDC_SCOPES maps none of their groups "
                                       f"({', '.join(who.groups) or 'none'}) to a scope")
        except ChatopsError as exc:
            return await refused(request, exc)
        user = ui.users.signed_in_elsewhere(f"oidc:{who.name}", scopes)
        token, _ = ui.users.open_session(user)
        client, request_id = request_facts(request.scope)
        request.scope["state"]["audited"] = True
        ui.s.audit.record(client=client, method="GET", endpoint="/ui/oidc/callback",
                          decision="allowed", status=303, request_id=request_id,
                          key_name=user.name, reason=f"signed in as {user.name} (subject "
                          f"{who.subject} at {oidc.issuer}; scopes {', '.join(scopes)})")
        # A page of ours goes on: the provider's redirect made this request cross-site,
        # and the browser would not send a SameSite=Strict cookie on a redirect from it.
        response = ui.page(request, "signed_in.html", next=next_page, name=user.name)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure(request), path="/ui", max_age=SESSION_HOURS * 3600)
        response.delete_cookie(STATE_COOKIE, path="/ui/oidc")
        return response


__all__ = ["OidcSignIn", "register_oidc", "scope_map"]
