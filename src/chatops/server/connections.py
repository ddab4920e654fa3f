"""Bounded HTTP/1.1 connections, enforced before a request reaches the application.

uvicorn's HTTP protocol reads any amount of header and waits forever for a request head
that trickles in. This protocol, a subclass of it, adds what a service facing a network
needs, each enforced while the bytes arrive:

- at accept, before anything is read: the allowlist when the peer address alone decides
  (no trusted proxy in front), a cap on open connections, and one per address; past the
  global cap, an address holding fewer than ``FAIR_SHARE`` connections is let in within a
  reserve (an eighth of the cap), so addresses that fill the cap do not shut out others;
- a limit on each line of the request head (414 for the request line, 431 for a header)
  and on the whole head (431);
- a deadline for the whole head, counted from the connection or from the first byte of
  the next request (408, so a client sending a byte a second is closed);
- a deadline for the body, counted from the end of the head, and a minimum rate after
  a grace second (408: a body that trickles in one byte at a time holds no connection
  for long); the refusal is audited here, once, and the request's own handler is told
  (``state["audited"]``), so a client that goes away leaves no error behind;
- keep-alive connections idle longer than uvicorn's ``timeout_keep_alive`` are closed;
- with the guard's ``screen``: the checks before routing, made when a head has arrived,
  and a refusal answered on the spot without starting the application (the connection
  is kept: a small body is read and dropped);
- an address locked out for heads and bodies that did not arrive in time is held unread
  at accept (``Refusal.hold``), then answered 429, so it comes back seldom (one locked out
  for bad keys is answered by the guard's ``screen``, below, request by request);

Connections on the service's unix socket (``$CHATOPS_STATE_DIR/chatops.sock``, mode 0600:
the file permission is the credential, as with the Docker socket) are the host's own:
they skip the address checks and are marked ``local_socket`` for the guard.

A refusal is written as the service's JSON error, then the connection is half-closed and
the rest of what the client sends is read and dropped for a moment (a lingering close,
so the client sees the answer instead of a reset), up to a small budget. The deadlines
are checked by one timer a connection, every quarter of the shortest (at most a second).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

import httptools
from msgspec import Struct
from msgspec.structs import fields
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatops.server.refusal import Refusal

if TYPE_CHECKING:
    from chatops.settings import Settings

#: How long a refused connection is drained before it is closed, and how much of it.
LINGER_SECONDS = 1.0
LINGER_BYTES = 256 * 1024
_END = b"\r\n\r\n"
#: The body's first second is not held to the minimum rate (a client's first write).
RATE_GRACE = 1.0
#: Past the global cap, an address holding fewer connections than this is still let in,
#: within a reserve: a few addresses that fill the cap do not lock everybody else out.
FAIR_SHARE = 4


class HttpLimits(Struct, frozen=True):
    max_header_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    head_timeout: float = 10.0
    max_connections: int = 512
    max_connections_per_address: int = 64
    body_timeout: float = 10.0
    body_min_rate: int = 256  # bytes a second, after RATE_GRACE

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        """The limits the settings name (each field is a setting of the same name)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


#: Decides at accept from the peer address alone: a refusal, or None to go on. It is
#: also told whether the address is a trusted proxy (then only the guard can decide).
Admit = Callable[[str], Refusal | None]
IsProxy = Callable[[str], bool]
#: A refused request's declared body is read and dropped up to this size (the connection
#: is kept); past it, or chunked, the refusal closes the connection instead.
DROP_BODY_BYTES = 64 * 1024


class Verdict(Protocol):
    """What the guard's checks before routing decided (server/guard.py, ``Screened``)."""

    @property
    def refusal(self) -> Refusal | None: ...


#: The guard's checks before routing: (method, path, query, headers, peer) to a verdict,
#: any refusal counted and audited already.
Screen = Callable[[str, str, bytes, list[tuple[bytes, bytes]], str], Verdict]


def bounded_protocol(limits: HttpLimits, admit: Admit, is_proxy: IsProxy,
                     on_refusal: Callable[[Refusal, str], None] | None = None,
                     screen: Screen | None = None) -> type[HttpToolsProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``. With ``screen``, a
    request's head is screened as soon as it has arrived, and a refusal is answered
    here, on the spot, without starting the application: a flood of bad keys costs a
    parse, the checks and one write each."""
    per_address: dict[str, int] = {}
    reserve = max(16, limits.max_connections // 8)
    #: How often each connection's deadlines are checked: one timer a connection, not
    #: one per request and phase (a flood of small requests pays for none).
    tick = max(0.05, min(1.0, limits.head_timeout / 4, limits.body_timeout / 4))

    class BoundedHttp(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._peer = ""
            self._counted = False
            self._watch: asyncio.TimerHandle | None = None
            self._linger: asyncio.TimerHandle | None = None
            self._discarding = False
            self._local = False
            self._dropped = 0
            self._head_since = 0.0  # the connection's start, then each head's first byte
            self._served = False  # a request's head arrived on this connection
            self._idle_since: float | None = None  # answered, and nothing new since
            self._in_body = False
            self._body_start = 0.0
            self._body_bytes = 0
            self._answered = False  # refused on the spot: its body is read and dropped
            self._new_head()

        def _new_head(self) -> None:
            self._in_head = True
            self._head_bytes = 0
            self._line_len = 0
            self._line_no = 0
            self._tail = b""

        # -- accept ------------------------------------------------------------

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            self._local = sock is not None and sock.family == socket.AF_UNIX
            if self._local:
                self.client = ("local", 0)
                self._peer = "local"
                self._start_watch()
                return
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                # asyncio sets this only for sockets made with proto IPPROTO_TCP, and the
                # bound socket is made with proto 0: without it, a response's body waits
                # for the client's delayed ACK of its head (40 ms on each keep-alive
                # request).
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = transport.get_extra_info("peername")
            self._peer = str(peer[0]) if peer else "unknown"
            proxy = is_proxy(self._peer)
            refusal = None if proxy else admit(self._peer)
            if refusal is None and len(self.connections) > limits.max_connections and (
                    per_address.get(self._peer, 0) >= FAIR_SHARE
                    or len(self.connections) > limits.max_connections + reserve):
                refusal = Refusal(503, "too_many_connections", "the service has too many "
                                  "open connections; try again shortly", retry_after=1)
            if (refusal is None and not proxy and per_address.get(self._peer, 0)
                    >= limits.max_connections_per_address):
                refusal = Refusal(429, "too_many_connections", "too many open connections "
                                  "from this address", retry_after=1)
            if refusal is not None and refusal.hold > 0 and \
                    per_address.get(self._peer, 0) < limits.max_connections_per_address:
                # An address locked out for trickling is held, unread, before its answer
                # (counted like any connection of the address): the abuser comes back
                # every few seconds instead of many times a second.
                per_address[self._peer] = per_address.get(self._peer, 0) + 1
                self._counted = True
                self._discarding = True
                self._linger = self.loop.call_later(
                    min(refusal.hold, limits.head_timeout),
                    lambda: self._refuse(refusal, linger=False))
                return
            if refusal is not None:
                self._refuse(refusal, linger=refusal.status == 403)
                return
            if not proxy:
                per_address[self._peer] = per_address.get(self._peer, 0) + 1
                self._counted = True
            self._start_watch()

        def connection_lost(self, exc: Exception | None) -> None:
            for timer in (self._watch, self._linger):
                if timer is not None:
                    timer.cancel()
            self._watch = self._linger = None
            if self._counted:
                self._counted = False
                left = per_address.get(self._peer, 1) - 1
                if left > 0:
                    per_address[self._peer] = left
                else:
                    per_address.pop(self._peer, None)
            super().connection_lost(exc)

        # -- the request head -----------------------------------------------------

        def _start_watch(self) -> None:
            self._head_since = self.loop.time()
            self._watch = self.loop.call_later(tick, self._check)

        def _check(self) -> None:
            """The deadlines of whatever the connection is doing: a head that does not
            arrive in time, a body too slow or too late, an idle keep-alive."""
            self._watch = None
            if self._discarding or self.transport.is_closing():
                return
            now = self.loop.time()
            if self._in_head and self._head_bytes == 0 and self._served:
                if self._idle_since is not None and self._idle() and \
                        now - self._idle_since >= self.timeout_keep_alive:
                    self.transport.close()  # idle between requests, as uvicorn would
                    return
            elif self._in_head and now - self._head_since >= limits.head_timeout:
                if self._head_bytes == 0:  # nothing of a request yet: an idle connection
                    self.transport.close()
                    return
                self._refuse(Refusal(408, "request_timeout", "the request head did not "
                                     f"arrive within {limits.head_timeout:g} s"), linger=False)
                return
            elif self._in_body and self._body_late(now):
                return
            self._watch = self.loop.call_later(tick, self._check)

        def data_received(self, data: bytes) -> None:
            if self._discarding:
                self._dropped += len(data)
                if self._dropped > LINGER_BYTES:
                    self.transport.abort()
                return
            self._idle_since = None
            if self._in_head:
                if self._head_bytes == 0 and self._served:
                    self._head_since = self.loop.time()  # the next head's deadline starts
                refusal = self._account(data)
                if refusal is not None:
                    self._refuse(refusal, linger=True)
                    return
            elif self._in_body:
                self._body_bytes += len(data)
            super().data_received(data)

        def _account(self, data: bytes) -> Refusal | None:
            """Count the head's bytes in ``data``; the refusal when a limit is passed."""
            joined = self._tail + data
            found = joined.find(_END)
            segment = data if found < 0 else data[:max(0, found + len(_END) - len(self._tail))]
            self._tail = joined[-(len(_END) - 1):]
            self._head_bytes += len(segment)
            if self._head_bytes > limits.max_header_bytes:
                return Refusal(431, "headers_too_large", "the request head is larger than "
                               f"{limits.max_header_bytes} bytes")
            lines = segment.split(b"\n")
            lengths = [self._line_len + len(lines[0]), *(len(x) for x in lines[1:])]
            for offset, length in enumerate(lengths):
                if length > limits.max_header_line:
                    if self._line_no + offset == 0:
                        return Refusal(414, "uri_too_long", "the request line is longer "
                                       f"than {limits.max_header_line} bytes")
                    return Refusal(431, "headers_too_large", "a header line is longer than "
                                   f"{limits.max_header_line} bytes")
            self._line_no += len(lines) - 1
            self._line_len = lengths[-1]
            return None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._local:
                self.scope["state"]["local_socket"] = True

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._served = True
            body = self._declared_body()
            if body:
                self._in_body = True
                self._body_start = self.loop.time()
                self._body_bytes = 0
            if screen is not None and self._may_answer_now():
                verdict = self._screen(screen)
                if verdict.refusal is not None:
                    self._answer(verdict.refusal, keep=body <= DROP_BODY_BYTES)
                    return
                self.scope["state"]["screened"] = verdict
            super().on_headers_complete()

        def _declared_body(self) -> int:
            """The body's declared size (0: none); chunked counts as unbounded."""
            for name, value in self.headers:
                if name == b"transfer-encoding":
                    return DROP_BODY_BYTES + 1
                if name == b"content-length":
                    digits = value.strip(b" \t")
                    return int(digits) if digits.isdigit() else DROP_BODY_BYTES + 1
            return 0

        def _idle(self) -> bool:
            """No request of this connection is waiting for its answer."""
            return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

        def _may_answer_now(self) -> bool:
            """Whether a refusal may be written now: no earlier request of this
            connection still waits for its answer (pipelining keeps the order), no
            ``Expect: 100-continue`` or upgrade, and not HEAD (answered without a body)."""
            return not self._local and self._idle() and not self.expect_100_continue \
                and not self.parser.should_upgrade() and self.parser.get_method() != b"HEAD"

        def _screen(self, screen: Screen) -> Verdict:
            method = self.parser.get_method().decode("ascii")
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")  # as uvicorn reads it for the application
            if "%" in path:
                path = unquote(path)
            return screen(method, path, url.query or b"", self.headers, self._peer)

        def _answer(self, refusal: Refusal, *, keep: bool) -> None:
            """Write the guard's refusal now. A small declared body is then read and
            dropped and the connection kept; otherwise it is closed (lingering)."""
            if keep and self.parser.should_keep_alive():
                self.transport.write(refusal.response(keep_alive=True))
                self._answered = True
                self.server_state.total_requests += 1
                self._idle_since = self.loop.time()  # the keep-alive's idle time starts
                return
            self._close_with(refusal.response(), linger=True)

        def on_body(self, body: bytes) -> None:
            if not self._answered:
                super().on_body(body)

        def _body_late(self, now: float) -> bool:
            """The body's deadline and its minimum rate (after a grace second): True
            when it was refused for either."""
            elapsed = now - self._body_start
            if elapsed >= limits.body_timeout:
                why = f"the request body did not arrive within {limits.body_timeout:g} s"
            elif elapsed >= RATE_GRACE and \
                    self._body_bytes < limits.body_min_rate * elapsed:
                why = (f"the request body arrived slower than {limits.body_min_rate} bytes "
                       "a second")
            else:
                return False
            if self.cycle is not None and not self._answered:  # the guard and the route:
                self.cycle.scope.setdefault("state", {})["audited"] = True  # refused here
            self._refuse(Refusal(408, "request_timeout", why), linger=False)
            return True

        def on_response_complete(self) -> None:
            self._idle_since = self.loop.time()
            super().on_response_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            if self._answered:
                self._answered = False
            else:
                super().on_message_complete()
            self._new_head()

        # -- refusing ----------------------------------------------------------------

        def _refuse(self, refusal: Refusal, *, linger: bool) -> None:
            if on_refusal is not None:
                on_refusal(refusal, self._peer)
            self._close_with(refusal.response(), linger=linger)

        def _close_with(self, response: bytes, *, linger: bool) -> None:
            self._discarding = True
            transport = self.transport
            transport.write(response)
            if linger and transport.can_write_eof():
                transport.write_eof()
                self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)
            else:
                transport.close()

        def eof_received(self) -> None:
            if self._discarding:
                self.transport.close()
                return
            super().eof_received()

    return BoundedHttp
