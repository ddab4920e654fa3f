"""A refusal: the service's JSON error, whoever answers it (the connection at accept or
while the head arrives, server/connections.py; the guard before routing,
server/guard.py), as ASGI headers and body or as the bytes of a whole response."""

from __future__ import annotations

import functools
import json
from typing import NamedTuple

_PHRASES = {401: "Unauthorized", 403: "Forbidden", 408: "Request Timeout",
            413: "Content Too Large", 414: "URI Too Long", 422: "Unprocessable Content",
            429: "Too Many Requests", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


class Refusal(NamedTuple):
    """The service's JSON error, whoever answers it: the connection (at accept or while
    the head arrives) or the guard (server/guard.py, before routing). A tuple: a flood
    of refusals makes one each, and a tuple is the cheapest thing to make."""

    status: int
    code: str
    message: str
    retry_after: int | None = None
    hold: float = 0.0  # at accept: seconds the connection is held, unread, before this
    request_id: str | None = None

    def body(self) -> bytes:
        return _body(self.code, self.message)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response's headers (its body is ``body()``)."""
        first, rest = _pairs(len(self.body()), self.retry_after)
        mine = [] if self.request_id is None else [(b"x-request-id", self.request_id.encode())]
        return [*first, *mine, *rest]

    def response(self, *, keep_alive: bool = False) -> bytes:
        """The whole response, as bytes to write: ``headers`` and ``body``."""
        head, tail = _framing(self.status, self.code, self.message, self.retry_after,
                              keep_alive)
        if self.request_id is None:
            return head + tail
        return b"%sx-request-id: %s\r\n%s" % (head, self.request_id.encode(), tail)


Pairs = list[tuple[bytes, bytes]]


def _pairs(length: int, retry_after: int | None) -> tuple[Pairs, Pairs]:
    """A refusal's headers before its request id, and after it."""
    after = [] if retry_after is None else [(b"retry-after", b"%d" % retry_after)]
    return [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)], after


@functools.lru_cache(maxsize=1024)
def _framing(status: int, code: str, message: str, retry_after: int | None,
             keep_alive: bool) -> tuple[bytes, bytes]:
    """A refusal's response around its request id (the one part a flood does not
    repeat), made once for each distinct refusal."""
    body = _body(code, message)
    first, rest = _pairs(len(body), retry_after)
    if not keep_alive:
        rest.append((b"connection", b"close"))
    head = b"HTTP/1.1 %d %s\r\n" % (status, _PHRASES.get(status, "Error").encode())
    return (head + b"".join(n + b": " + v + b"\r\n" for n, v in first),
            b"".join(n + b": " + v + b"\r\n" for n, v in rest) + b"\r\n" + body)


@functools.lru_cache(maxsize=1024)
def _body(code: str, message: str) -> bytes:
    """A refusal's body, made once for each distinct refusal (a flood repeats one)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()
