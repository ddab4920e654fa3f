"""An OpenID Connect provider on loopback, built from Authlib's parts: discovery, a JWKS
of a real RSA key, an authorization endpoint that signs in ``user`` at once (a provider's
login page is not what is tested), and a token endpoint that checks the client's secret
and the PKCE verifier (``authlib.oauth2.rfc7636``) and returns an ID token signed RS256
(``joserfc``, Authlib's JOSE).

``audience``, ``lifetime`` and ``nonce`` make it issue a token with a wrong audience, an
expired one, or a wrong nonce; ``tokens`` counts the codes exchanged.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.loopback import JsonHandler


class FakeOidc:
    def __init__(self, client_id: str = "chatops", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.user: dict[str, Any] = {"sub": "u-1001", "preferred_username": "alice",
                                     "groups": ["ops"]}
        self.audience: str | None = None  # None: the client's
        self.lifetime = 300
        self.nonce: str | None = None  # None: the one the client sent
        self.tokens = 0
        self._codes: dict[str, dict[str, str]] = {}
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, fake.discovery())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [fake.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self._authorize(query)
                else:
                    self._json(404, {"error": "not_found"})

            def _authorize(self, query: dict[str, str]) -> None:
                if query.get("client_id") != fake.client_id or query.get(
                        "response_type") != "code" or query.get(
                        "code_challenge_method") != "S256":
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                fake._codes[code] = {"challenge": query.get("code_challenge", ""),
                                     "nonce": query.get("nonce", ""),
                                     "redirect_uri": query.get("redirect_uri", "")}
                target = query["redirect_uri"] + "?" + urlencode(
                    {"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                basic = base64.b64encode(
                    f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                authorized = self.headers.get("Authorization") == f"Basic {basic}" or (
                    form.get("client_id") == fake.client_id
                    and form.get("client_secret") == fake.client_secret)
                if not authorized:
                    self._json(401, {"error": "invalid_client"})
                    return
                issued = fake._codes.pop(form.get("code", ""), None)
                if issued is None or form.get("grant_type") != "authorization_code" \
                        or form.get("redirect_uri") != issued["redirect_uri"] \
                        or create_s256_code_challenge(form.get("code_verifier", "")) \
                        != issued["challenge"]:
                    self._json(400, {"error": "invalid_grant"})
                    return
                fake.tokens += 1
                self._json(200, {"access_token": secrets.token_urlsafe(16),
                                 "token_type": "Bearer", "expires_in": 300,
                                 "id_token": fake.id_token(issued["nonce"])})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience or self.client_id,
                  "iat": now - 5, "exp": now + self.lifetime,
                  "nonce": self.nonce if self.nonce is not None else nonce, **self.user}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)

    def start(self) -> FakeOidc:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
