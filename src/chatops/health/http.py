"""The ``http`` gate: a URL answers with an expected status (and body text).

Each attempt is one ``GET`` on a new connection, spoken with h11 (the HTTP/1.1 protocol
library httpx itself is built on) over asyncio's streams: a probe needs no pool, no
redirects and no proxies, and a ``chatops run`` that gates on a URL then loads neither
httpx nor anyio (about 25 ms of its start on this project's machines).
"""

from __future__ import annotations

import contextlib
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field

from chatops.durations import format_duration
from chatops.health.registry import Check, GateContext, GateKind, GateResult, Slot, poll, register
from chatops.intents.fields import Duration, StatusRange, Url


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


async def get(url: str) -> tuple[int, str]:
    """One ``GET url`` (``Connection: close``): the status and the body as text (decoded
    by its charset, else UTF-8). Raises ``OSError`` (refused, reset, TLS) or
    ``h11.ProtocolError``; the caller bounds the time."""
    import asyncio  # noqa: PLC0415 - only a gate that runs pays for these
    import base64  # noqa: PLC0415
    from email.message import Message  # noqa: PLC0415

    import h11  # noqa: PLC0415

    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    tls = None
    if secure:
        from chatops.tls import tls_context  # noqa: PLC0415

        tls = tls_context()
    reader, writer = await asyncio.open_connection(
        host, parts.port or (443 if secure else 80), ssl=tls,
        server_hostname=host if secure else None)
    try:
        headers = [("Host", parts.netloc.rpartition("@")[2]), ("User-Agent", "chatops"),
                   ("Accept", "*/*"), ("Connection", "close")]
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers.append(("Authorization",
                            "Basic " + base64.b64encode(pair.encode()).decode()))
        conn = h11.Connection(h11.CLIENT)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(conn.send(h11.Request(method="GET", target=target, headers=headers)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        status, charset, body = 0, "utf-8", bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))  # b"": the server closed
            elif isinstance(event, h11.Response):
                status = event.status_code
                kind = Message()
                kind["content-type"] = next((v.decode("latin-1") for k, v in event.headers
                                             if k == b"content-type"), "")
                charset = kind.get_content_charset() or charset
            elif isinstance(event, h11.Data):
                body += event.data[:BODY_LIMIT - len(body)]
                if len(body) >= BODY_LIMIT:
                    break
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        try:
            text = bytes(body).decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            text = bytes(body).decode("utf-8", errors="replace")
        return status, text
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def run(check: HttpCheck, ctx: GateContext) -> GateResult:
    import asyncio  # noqa: PLC0415

    import h11  # noqa: PLC0415

    lo, hi = check.status

    async def attempt(_: float) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(check.timeout):
                status, text = await get(check.http)
        except TimeoutError:
            return False, f"no answer within {format_duration(check.timeout)}"
        except (OSError, h11.ProtocolError) as exc:
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else \
                type(exc).__name__
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
