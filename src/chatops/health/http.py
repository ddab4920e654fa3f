"""The ``http`` gate: a URL answers with an expected status (and body text)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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


async def run(check: HttpCheck, ctx: GateContext) -> GateResult:
    import httpx  # noqa: PLC0415 - only steps with an HTTP gate pay for importing it

    from chatops.tls import async_client  # noqa: PLC0415

    lo, hi = check.status
    plain = urlsplit(check.http).scheme == "http"
    async with async_client(tls=not plain, timeout=check.timeout,
                            follow_redirects=False) as client:

        async def attempt(_: float) -> tuple[bool, str]:
            try:
                resp = await client.get(check.http)
            except httpx.HTTPError as exc:
                return False, f"{type(exc).__name__}: {exc}" if str(exc) else \
                    type(exc).__name__
            body_ok = check.body is None or check.body in resp.text
            if lo <= resp.status_code <= hi and body_ok:
                return True, f"answered {resp.status_code}"
            seen = f"answered {resp.status_code}"
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
