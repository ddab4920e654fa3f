"""The ``http`` gate: a URL answers with an expected status (and body text).

Each attempt is one ``GET`` on a new connection: connected on the event loop (so a gate
that is stopped, its step having failed, drops a connection still being made at once),
then spoken with the standard library's ``http.client`` in a worker thread, as the
engine's API calls are (``http.client`` is loaded already, so a gate costs no import
after the ``up`` it waits for; h11 took about 5 ms). An attempt the gate stops waiting
for has its socket shut down, so its thread ends at once rather than at its timeout: a
run is never held by a slow server.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field

from chatops.durations import format_duration
from chatops.health.registry import Check, GateContext, GateKind, GateResult, Slot, poll, register
from chatops.intents.fields import Duration, StatusRange, Url

if TYPE_CHECKING:
    import socket


class HttpCheck(Check):
    """Poll a URL until it answers with an expected status (and body text)."""

    http: Url = Field(description="URL to request, e.g. http://127.0.0.1:32400/web")
    status: StatusRange = Field(default=(200, 399), description="expected status or range")
    body: str | None = Field(default=None, description="text the response body must contain")
    within: Duration = Field(default=60.0, description="deadline for the check to pass")
    interval: Duration = Field(default=0.5, description="time between attempts")
    timeout: Duration = Field(default=5.0, description="time limit of one request")


def describe(check: HttpCheck) -> str:
    lo, hi = check.status
    status = str(lo) if lo == hi else f"{lo}-{hi}"
    body = f" with {check.body!r} in the body" if check.body is not None else ""
    return (f"GET {check.http} answers {status}{body} within "
            f"{format_duration(check.within)} (every {format_duration(check.interval)}, "
            f"{format_duration(check.timeout)} per request)")


#: The most of a body an attempt reads (a health page is small; a stream never ends).
BODY_LIMIT = 1 << 20


class Probe:
    """One ``GET url`` (``Connection: close``). Its TCP connection is made on the event
    loop (``connect``: cancelled, it stops at once); TLS and HTTP then run in a worker
    thread (``fetch``), on a socket that ``abort`` can shut down from any thread."""

    def __init__(self, url: str, timeout: float) -> None:
        self.parts = urlsplit(url)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def _hold(self, sock: socket.socket) -> None:
        """``sock`` is the one ``abort`` shuts down (refused once aborted)."""
        with self._lock:
            if self._aborted:
                sock.close()
                raise ConnectionAbortedError("the gate stopped waiting")
            self._sock = sock

    async def connect(self) -> socket.socket:
        """A connection to the URL's host, each of its addresses in turn (as
        ``socket.create_connection`` tries them)."""
        import asyncio  # noqa: PLC0415
        import socket  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        host = self.parts.hostname or ""
        port = self.parts.port or (443 if self.parts.scheme == "https" else 80)
        # An ASCII host goes to the resolver as bytes, as the idna codec would make it:
        # a str would load that codec first, 5 ms on the way to a run's first answer.
        name: str | bytes = host.encode("ascii") if host.isascii() else host
        failed: OSError | None = None
        for family, kind, proto, _, address in await loop.getaddrinfo(
                name, port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            self._hold(sock)
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                failed = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise failed or OSError(f"{host} has no address")

    def fetch(self, sock: socket.socket) -> tuple[int, str]:
        """The status and the body as text (decoded by its charset, else UTF-8), over
        ``sock``. Raises ``OSError`` (reset, TLS, aborted) or
        ``http.client.HTTPException``."""
        import http.client  # noqa: PLC0415 - what validates an intent never needs it

        parts = self.parts
        host = parts.hostname or ""
        sock.setblocking(True)
        sock.settimeout(self.timeout)
        conn = http.client.HTTPConnection(host, parts.port, timeout=self.timeout)
        conn.sock = sock  # connected: http.client does not connect again
        try:  # closed however it ends, a failed TLS handshake included
            if parts.scheme == "https":
                from chatops.tls import tls_context  # noqa: PLC0415 - only https pays

                conn.sock = secure = tls_context().wrap_socket(
                    sock, server_hostname=host, do_handshake_on_connect=False)
                self._hold(secure)
                secure.do_handshake()
            headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": "chatops",
                       "Accept": "*/*", "Connection": "close"}
            if parts.username is not None:
                import base64  # noqa: PLC0415

                pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            body = resp.read(BODY_LIMIT)
            charset = resp.headers.get_content_charset() or "utf-8"
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:  # a charset Python does not know
                text = body.decode("utf-8", errors="replace")
            return resp.status, text
        finally:
            conn.close()

    def abort(self) -> None:
        """Stop the attempt: its thread's current (or next) read fails at once."""
        with self._lock:
            self._aborted = True
            sock = self._sock
        if sock is not None:
            import socket  # noqa: PLC0415 - loaded already by the connection

            with contextlib.suppress(OSError):  # the plain socket's: TLS state untouched
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


async def get(url: str, timeout: float) -> tuple[int, str]:
    """One ``GET url``: connected on the event loop, then spoken in a worker thread;
    cancelled at any point, its connection is cut and no thread is left waiting."""
    import asyncio  # noqa: PLC0415

    probe = Probe(url, timeout)
    try:
        sock = await probe.connect()
        return await asyncio.to_thread(probe.fetch, sock)
    finally:
        probe.abort()


async def run(check: HttpCheck, ctx: GateContext) -> GateResult:
    import asyncio  # noqa: PLC0415
    import http.client  # noqa: PLC0415

    lo, hi = check.status

    async def attempt(_: float) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(check.timeout):
                status, text = await get(check.http, check.timeout)
        except TimeoutError:
            return False, f"no answer within {format_duration(check.timeout)}"
        except (OSError, http.client.HTTPException) as exc:
            said = " ".join(str(exc).split())  # a status line that was not one ends in CRLF
            return False, f"{type(exc).__name__}: {said}" if said else type(exc).__name__
        body_ok = check.body is None or check.body in text
        if lo <= status <= hi and body_ok:
            return True, f"answered {status}"
        seen = f"answered {status}"
        return False, seen if body_ok else f"{seen} without {check.body!r} in the body"

    return await poll(attempt, kind="http", description=ctx.description,
                      within=check.within, interval=check.interval, clock=ctx.clock,
                      failed=lambda last: f"GET {check.http} did not pass within "
                      f"{check.within:g}s; last: {last}")


def sees_stable(check: HttpCheck, slot: Slot) -> bool:
    url = urlsplit(check.http)
    return slot.is_stable(url.hostname or "", url.port or 80)


def aim(check: HttpCheck, slot: Slot) -> HttpCheck:
    if not sees_stable(check, slot):
        return check
    url = urlsplit(check.http)
    return check.model_copy(update={"http": urlunsplit(
        (url.scheme, f"{slot.host}:{slot.port}", url.path, url.query, url.fragment))})


KIND = register(GateKind(key="http", model=HttpCheck, describe=describe, run=run, aim=aim,
                         sees_stable=sees_stable))
