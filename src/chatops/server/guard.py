"""Who may call: checked before routing and before the body is read.

In order, each refusal audited and counted (alike refusals share one record, with a
count): the client address against the allowlist (``X-Forwarded-For`` believed only from
a trusted proxy), a lockout for addresses that sent too many bad keys, the per-address
rate limit, the declared body size, repeated query parameters, then (except for probes,
signed webhooks and the dashboard) the API key and the per-key rate limit; last, for
clients behind a trusted proxy, how many of their requests are under way. ``screen``
makes these checks as soon as a request's head has arrived, and the connection answers
its refusal at once, without starting the application (server/connections.py). Scope
and label checks need the intent, so the endpoints make them.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from msgspec import Struct

from chatops.application.caller import Operator
from chatops.application.metrics import Metrics
from chatops.errors import BodyTooLargeError, StoreError
from chatops.gitops.forges import FORGES
from chatops.ratelimit import Lockout, RateLimiter, retry_after
from chatops.server.keys import ApiKey, KeyRing
from chatops.server.refusal import Refusal
from chatops.settings import Network
from chatops.store.audit import AuditLog

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths that need an allowed address but no key (probes and monitors).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                        # Forges sign their webhooks (HMAC, or GitLab's token)
                        # instead of sending a key; Discord (Ed25519) and Slack (HMAC)
                        # sign their commands.
                        *(f"/webhooks/{name}" for name in FORGES),
                        "/chat/discord", "/chat/slack"})
_CACHE_LIMIT = 10_000
#: How long a connection from an address locked out for trickling waits, unread, for its
#: 429: it comes back every few seconds instead of many times a second.
TARPIT_SECONDS = 5.0
_OWS = (0x20, 0x09)  # optional whitespace around a header value: space, tab


_PREFIX = secrets.token_hex(4)
_SERIAL = itertools.count(1)


def new_request_id() -> str:
    """A request's id when it sent none: unique in this service's life (a random prefix
    and a serial), and without a system call for randomness on each request."""
    return f"{_PREFIX}{next(_SERIAL):08x}"


class Screened(Struct):
    """What the checks before routing decided of one request: a refusal (counted and
    audited already), a path open without a key, or the caller's key."""

    method: str
    path: str
    client: str
    request_id: str
    headers: dict[bytes, bytes]
    refusal: Refusal | None = None
    open: bool = False
    key: ApiKey | None = None


class Guard:
    def __init__(
        self, app: ASGIApp, *, allowlist: list[Network], proxies: list[Network],
        keys: KeyRing, audit: AuditLog, metrics: Metrics, per_address: RateLimiter,
        per_key: RateLimiter, lockout: Lockout, max_body: int,
        on_refusal: Callable[[str, str], None] | None = None,
        max_per_address: int = 64,
    ) -> None:
        self.on_refusal = on_refusal
        #: Requests under way per client address seen through a trusted proxy: the proxy's
        #: connections are not counted per address at accept, so its clients are here.
        self.max_per_address = max_per_address
        self._inflight: dict[str, int] = {}
        #: Addresses locked out for trickling heads or bodies, until when (monotonic).
        self._trickled: dict[str, float] = {}
        self.app = app
        self.allowlist = allowlist
        self.proxies = proxies
        self.keys = keys
        self.audit = audit
        self.metrics = metrics
        self.per_address = per_address
        self.per_key = per_key
        self.lockout = lockout
        self.max_body = max_body
        self._allowed: dict[str, bool] = {}
        self._trusted: dict[str, bool] = {}
        self._counters: dict[str, Any] = {}

    def _counter(self, code: str) -> Any:
        counter = self._counters.get(code)
        if counter is None:
            counter = self._counters[code] = self.metrics.rejected.labels(code)
        return counter

    def _in(self, cache: dict[str, bool], nets: list[Network], address: str) -> bool:
        hit = cache.get(address)
        if hit is None:
            try:
                ip = ipaddress.ip_address(address)
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                hit = any(ip in net for net in nets)
            except ValueError:
                hit = False
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[address] = hit
        return hit

    # -- at accept (server/connections.py), before a byte is read -----------------

    def is_proxy(self, peer: str) -> bool:
        """A trusted proxy speaks for others: only the request can say who the client is."""
        return bool(self.proxies) and self._in(self._trusted, self.proxies, peer)

    def admit(self, peer: str) -> Refusal | None:
        """Applied to a connection whose peer address alone decides, before a byte is
        read: the allowlist, and the lockout of an address that trickled heads or bodies
        (held unread, then answered). An address locked out for bad keys is let in: each
        of its requests is answered 429 as soon as its head arrives (``screen``), on the
        same connection, which costs less than a connection refused and opened again."""
        if not self._in(self._allowed, self.allowlist, peer):
            return Refusal(403, "address_not_allowed",
                           f"client address {peer} is not in the allowlist")
        locked = self.lockout.locked(peer)
        if locked and self._trickled.get(peer, 0.0) > time.monotonic():
            return Refusal(429, "locked_out", "this address is locked out for "
                           f"{retry_after(locked)} s (requests that did not arrive in "
                           "time)", retry_after=int(retry_after(locked)), hold=TARPIT_SECONDS)
        return None

    def connection_refused(self, refusal: Refusal, peer: str) -> None:
        """Count and audit a refusal made by the connection, before any routing."""
        self._counter(refusal.code).inc()
        if self.on_refusal is not None:
            self.on_refusal(refusal.code, peer)
        if refusal.code == "request_timeout" and peer != "local" and not self.is_proxy(peer):
            # A head or body that trickles is abuse, like a bad key: it counts toward
            # the address's lockout (never toward the key-spray budget).
            for event in self.lockout.failed(peer, key=False):
                if event == "lockout_started":
                    if len(self._trickled) >= _CACHE_LIMIT:
                        self._trickled.clear()
                    self._trickled[peer] = time.monotonic() + self.lockout.duration
                self._counter(event).inc()
                if self.on_refusal is not None:
                    self.on_refusal(event, peer)
        self.audit.refusal(client=peer, method="-", endpoint="(connection)",
                           reason=refusal.code, status=refusal.status, request_id="-")

    def client_address(self, peer: str, headers: dict[bytes, bytes]) -> str:
        forwarded = headers.get(b"x-forwarded-for")
        if forwarded is None or not self._in(self._trusted, self.proxies, peer):
            return peer
        # Walk from the right: the first hop that is not a trusted proxy is the client.
        hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._in(self._trusted, self.proxies, hop):
                return hop
        return hops[0] if hops else peer

    # -- before routing: the connection's fast path and the ASGI app alike ----------

    def _refusal(self, screened: Screened, status: int, code: str, message: str, *,
                 wait: float | None = None,
                 key_name: str | None = None) -> Screened:
        """``screened`` refused: counted and audited (alike refusals share a record)."""
        self._counter(code).inc()
        if self.on_refusal is not None:
            self.on_refusal(code, screened.client)
        self.audit.refusal(client=screened.client, method=screened.method,
                           endpoint=screened.path, reason=code,
                           status=status, request_id=screened.request_id, key_name=key_name)
        screened.refusal = Refusal(status, code, message, request_id=screened.request_id,
                                   retry_after=None if wait is None else max(1, math.ceil(wait)))
        return screened

    def screen(self, method: str, path: str, query: bytes, raw: list[tuple[bytes, bytes]],
               peer: str) -> Screened:
        """Every check made before routing, in order, with what each refusal says.

        The connection calls this as soon as a request's head has arrived, and answers
        a refusal itself, at once (server/connections.py); the ASGI app calls it for the
        requests the connection did not screen. ``raw`` (the head's headers) loses the
        whitespace around each value, as a header's value does not include it (RFC 9110,
        5.5), so every way of passing the key reads the same."""
        headers = dict(raw)
        if any(v and (v[0] in _OWS or v[-1] in _OWS) for v in headers.values()):
            raw[:] = [(n, v.strip(b" \t")) for n, v in raw]
            headers = dict(raw)
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or \
            new_request_id()
        client = self.client_address(peer, headers)
        seen = Screened(method=method, path=path, client=client, request_id=request_id,
                        headers=headers)
        if not self._in(self._allowed, self.allowlist, client):
            return self._refusal(seen, 403, "address_not_allowed",
                                 f"client address {client} is not in the allowlist")
        locked = self.lockout.locked(client)
        if locked:
            return self._refusal(seen, 429, "locked_out", "too many bad API "
                                 f"keys from this address; locked out for "
                                 f"{retry_after(locked)} s", wait=locked)
        wait = self.per_address.take(client)
        if wait:
            return self._refusal(seen, 429, "rate_limited",
                                 "too many requests from this address", wait=wait)
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._refusal(seen, 413, "body_too_large",
                                 f"request body is larger than {self.max_body} bytes")
        repeated = _repeated_parameter(query)
        if repeated is not None:
            return self._refusal(seen, 422, "invalid_request",
                                 f"query parameter {repeated!r} is given more than once; "
                                 "every parameter takes one value")
        if path in OPEN_PATHS or path == "/ui" or path.startswith("/ui/"):
            # Probes and signed webhooks need no key; the dashboard signs its people in
            # with a password and a session cookie (chatops.web) and records what they do.
            seen.open = True
            return seen
        return self._key_checks(seen)

    def _key_checks(self, seen: Screened) -> Screened:
        headers, client = seen.headers, seen.client
        token = headers.get(b"x-api-key")
        if token is None:
            auth = headers.get(b"authorization", b"")
            if auth[:7].lower() == b"bearer ":
                token = auth[7:].strip()
        if not token:
            return self._refusal(seen, 401, "missing_key",
                                 "send the API key in the X-API-Key header")
        refresh = getattr(self.keys, "refresh", None)
        if refresh is not None:
            refresh()
        key = self.keys.match(token.decode("latin-1"))
        if key is None:
            for event in self.lockout.failed(client):
                self._counter(event).inc()
                if self.on_refusal is not None:
                    self.on_refusal(event, client)
                if event == "key_spray":
                    self.audit.record(
                        client=client, method=seen.method, endpoint=seen.path,
                        decision="alert", status=401, request_id=seen.request_id,
                        reason=f"key_spray: more than {self.lockout.budget} wrong API keys "
                        f"within {self.lockout.window:g} s across addresses; every address "
                        "sending a wrong key is now locked out at once")
            return self._refusal(seen, 401, "invalid_key",
                                 "the API key is not valid")
        wait = self.per_key.take(key.name)
        if wait:
            return self._refusal(seen, 429, "rate_limited",
                                 f"too many requests with key {key.name!r}",
                                 key_name=key.name, wait=wait)
        seen.key = key
        return seen

    # -- the ASGI app ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if state.get("local_socket"):
            await self._local(scope, receive, send)
            return
        peer = str((scope.get("client") or ("unknown", 0))[0])
        screened = state.pop("screened", None)
        if not isinstance(screened, Screened):  # not screened by the connection
            screened = self.screen(scope["method"], scope["path"],
                                   scope.get("query_string", b""), scope["headers"], peer)
        state["client"] = client = screened.client
        state["request_id"] = screened.request_id
        if screened.refusal is not None:
            await send_refusal(send, screened.refusal)
            return
        proxied = client != peer
        if proxied:
            held = self._inflight.get(client, 0)
            if held >= self.max_per_address:
                refusal = self._refusal(
                    screened, 429, "too_many_connections",
                    "too many requests under way from this address", wait=1.0).refusal
                if refusal is not None:
                    await send_refusal(send, refusal)
                return
            self._inflight[client] = held + 1
        try:
            await self._route(scope, receive, send, screened)
        finally:
            if proxied:
                left = self._inflight.get(client, 1) - 1
                if left > 0:
                    self._inflight[client] = left
                else:
                    self._inflight.pop(client, None)

    async def _route(self, scope: Scope, receive: Receive, send: Send,
                     screened: Screened) -> None:
        if screened.open:
            if scope["method"] == "HEAD":
                await self.app({**scope, "method": "GET"}, self._limited(receive),
                               head_only(send))
            else:
                await self.app(scope, self._limited(receive), send)
            return
        key = screened.key
        assert key is not None  # noqa: S101 - screen passes a request with a key or open
        scope["state"]["key"] = key
        await self._pass(scope, receive, send, client=screened.client, key_name=key.name)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, *, client: str,
                    key_name: str) -> None:
        """Hand a request that passed the checks to the routes (HEAD as GET without its
        body); audit it as allowed or refused unless an endpoint recorded its decision."""
        state, path = scope["state"], scope["path"]
        if self.audit.failing is not None:
            try:
                self.audit.flush()
            except StoreError:
                self._counter("audit_unavailable").inc()
                await send_refusal(send, Refusal(
                    503, "audit_unavailable", "the audit trail cannot be written; nothing "
                    "is done until it can (the service log says why)",
                    request_id=state["request_id"]))
                self.audit.refusal(client=client, method=scope["method"], endpoint=path,
                                   reason="audit_unavailable", status=503,
                                   request_id=state["request_id"], key_name=key_name)
                return
        status = 500

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if scope["method"] == "HEAD":
                await self.app({**scope, "method": "GET"}, self._limited(receive),
                               head_only(watch))
            else:
                await self.app(scope, self._limited(receive), watch)
        finally:
            if not state.get("audited") and path not in OPEN_PATHS:
                self.audit.record(client=client, method=scope["method"], endpoint=path,
                                  decision="allowed" if status < 400 else "refused",
                                  status=status, request_id=state["request_id"],
                                  key_name=key_name)

    async def _local(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request on the service's unix socket: the host's operator (the CLI), who
        names themself; recorded like any caller, as ``via cli``."""
        state = scope["state"]
        headers = dict(scope["headers"])
        state["client"] = "local"
        state["request_id"] = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or \
            new_request_id()
        name = headers.get(b"x-chatops-actor", b"").decode("latin-1")
        name = "".join(c for c in name if c.isalnum() or c in "._-@")[:64] or "local"
        override = headers.get(b"x-chatops-override-window", b"") == b"1"
        state["key"] = Operator(name, override_window=override)
        state["via"] = "cli"
        await self._pass(scope, receive, send, client="local", key_name=name)

    def _limited(self, receive: Receive) -> Receive:
        """Refuse bodies that grow past the limit even without a Content-Length."""
        seen = 0
        limit = self.max_body

        async def wrapped() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        return wrapped


def _repeated_parameter(query: bytes) -> str | None:
    """The first query parameter given twice (none of ours takes a list), or None."""
    if b"&" not in query:
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name[:100]
        seen.add(name)
    return None


def head_only(send: Send) -> Send:
    """HEAD is GET without the body (RFC 9110, 9.3.2): the same status and headers, the
    body dropped; the response ends at once, so a stream ends too."""
    done = False

    async def wrapped(message: MutableMapping[str, Any]) -> None:
        nonlocal done
        if done:
            return
        if message["type"] == "http.response.start":
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            done = True
            return
        await send(message)

    return wrapped


async def send_refusal(send: Send, refusal: Refusal) -> None:
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": refusal.headers()})
    await send({"type": "http.response.body", "body": refusal.body()})
