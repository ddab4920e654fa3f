"""The Uptime Kuma gate: wait until a monitor reports UP, as the seed's step 10 checks.

Two public endpoints of Kuma are read, neither needing a login:
- ``/api/status-page/heartbeat/<slug>``: the monitor's heartbeats with their times. The
  gate passes only on an UP beat newer than the change, so a status left over from before
  the deploy cannot pass it.
- ``/api/badge/<id>/status``: the current status as an SVG badge; it cannot tell when that
  status was found, so prefer a status page where one exists.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from chatops.durations import format_duration
from chatops.health.registry import (
    Check,
    GateContext,
    GateFailed,
    GateKind,
    GateResult,
    Slot,
    poll,
    register,
)
from chatops.intents.fields import Duration, Url, _intent_name

if TYPE_CHECKING:
    from chatops.clock import Clock

UP, DOWN, PENDING, MAINTENANCE = 1, 0, 2, 3
_NAMES = {UP: "UP", DOWN: "DOWN", PENDING: "PENDING", MAINTENANCE: "MAINTENANCE"}
_TITLE = re.compile(r"<title>[^<:]*:\s*([^<]+)</title>")
BADGE_LABELS = {"upLabel": "Up", "downLabel": "Down", "pendingLabel": "Pending",
                "maintenanceLabel": "Maintenance"}


class KumaCheck(Check):
    """Wait until an Uptime Kuma monitor reports UP (the seed's post-deploy check).

    With ``status_page``, Kuma's heartbeat API must show a beat newer than the change;
    without, the public badge (``/api/badge/<id>/status``) must read Up.
    """

    kuma: int = Field(ge=1, description="Uptime Kuma monitor id")
    url: Url | None = Field(
        default=None, description="Uptime Kuma base URL (default: CHATOPS_KUMA_URL)")
    status_page: Annotated[str, AfterValidator(_intent_name)] | None = Field(
        default=None, description="slug of a status page that shows the monitor")
    within: Duration = Field(default=300.0, description="deadline for the monitor to be UP")
    interval: Duration = 5.0


def describe(check: KumaCheck) -> str:
    where = check.url or "$CHATOPS_KUMA_URL"
    how = (f"status page {check.status_page} shows a heartbeat after the change"
           if check.status_page else "its badge reads Up")
    return (f"Uptime Kuma monitor {check.kuma} at {where} is UP ({how}) within "
            f"{format_duration(check.within)}")


def parse_beat_time(text: str) -> datetime:
    """Kuma stores heartbeat times as UTC ``YYYY-MM-DD HH:MM:SS.mmm``."""
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)


def latest_beat(body: Any, monitor: int) -> tuple[int, datetime, str] | None:
    beats = ((body or {}).get("heartbeatList") or {}).get(str(monitor)) or []
    parsed = []
    for beat in beats:
        try:
            parsed.append((int(beat["status"]), parse_beat_time(str(beat["time"])),
                           str(beat.get("msg") or "")))
        except (KeyError, TypeError, ValueError):
            continue
    return max(parsed, key=lambda b: b[1]) if parsed else None


def badge_status(svg: str) -> str | None:
    match = _TITLE.search(svg)
    return match.group(1).strip() if match else None


async def kuma_gate(check: KumaCheck, default_url: str | None, description: str,
                    clock: Clock, *, since: datetime) -> GateResult:
    import httpx  # noqa: PLC0415 - only steps with a Kuma gate pay for importing it

    from chatops.tls import async_client  # noqa: PLC0415

    base = (check.url or default_url or "").rstrip("/")
    async with async_client(timeout=10.0) as client:

        async def attempt(_: float) -> tuple[bool, str]:
            if not base:
                raise GateFailed("no Uptime Kuma URL: set url: in the check or "
                                 "CHATOPS_KUMA_URL")
            try:
                if check.status_page:
                    return await _heartbeat(client, base, check, since)
                resp = await client.get(f"{base}/api/badge/{check.kuma}/status",
                                        params=BADGE_LABELS)
                resp.raise_for_status()
            except (httpx.HTTPError, ValueError) as exc:
                return False, f"Uptime Kuma did not answer usefully: {exc}"
            status = badge_status(resp.text)
            if status == "Up":
                return True, f"monitor {check.kuma} badge reads Up"
            return False, f"monitor {check.kuma} badge reads {status or 'nothing readable'}"

        return await poll(attempt, kind="kuma", description=description, within=check.within,
                          interval=check.interval, clock=clock,
                          failed=lambda last: f"Uptime Kuma monitor {check.kuma} not UP "
                          f"within {check.within:g}s; last: {last}")


async def _heartbeat(client: Any, base: str, check: KumaCheck, since: datetime
                     ) -> tuple[bool, str]:
    """An UP heartbeat newer than the change, on the status page."""
    resp = await client.get(f"{base}/api/status-page/heartbeat/{check.status_page}")
    resp.raise_for_status()
    beat = latest_beat(resp.json(), check.kuma)
    if beat is None:
        return False, (f"status page {check.status_page} shows no heartbeat of monitor "
                       f"{check.kuma}")
    if beat[1] <= since:
        return False, f"last heartbeat ({_NAMES.get(beat[0], beat[0])}) is from before the change"
    if beat[0] == UP:
        return True, f"monitor {check.kuma} is UP at {beat[1]:%H:%M:%S}"
    return False, f"monitor {check.kuma} is {_NAMES.get(beat[0], beat[0])}" + (
        f": {beat[2]}" if beat[2] else "")


async def run(check: KumaCheck, ctx: GateContext) -> GateResult:
    return await kuma_gate(check, ctx.kuma_url, ctx.description, ctx.clock, since=ctx.since)


def only_stable(check: KumaCheck, slot: Slot) -> None:
    """Uptime Kuma watches the stable address from outside: it cannot see one slot."""
    del check, slot


def watches_stable(check: KumaCheck, slot: Slot) -> bool:
    del check, slot
    return True


KIND = register(GateKind(key="kuma", model=KumaCheck, describe=describe, run=run,
                         aim=only_stable, sees_stable=watches_stable))
