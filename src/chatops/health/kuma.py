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
from typing import Any

from chatops.clock import Clock
from chatops.health.gates import GateResult
from chatops.intents.model import KumaCheck

UP, DOWN, PENDING, MAINTENANCE = 1, 0, 2, 3
_NAMES = {UP: "UP", DOWN: "DOWN", PENDING: "PENDING", MAINTENANCE: "MAINTENANCE"}
_TITLE = re.compile(r"<title>[^<:]*:\s*([^<]+)</title>")
BADGE_LABELS = {"upLabel": "Up", "downLabel": "Down", "pendingLabel": "Pending",
                "maintenanceLabel": "Maintenance"}


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

    start = clock.monotonic()
    base = (check.url or default_url or "").rstrip("/")
    if not base:
        return GateResult("kuma", description, False,
                          "no Uptime Kuma URL: set url: in the check or CHATOPS_KUMA_URL", 0.0)
    deadline = start + check.within
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        while True:
            try:
                if check.status_page:
                    resp = await client.get(f"{base}/api/status-page/heartbeat/"
                                            f"{check.status_page}")
                    resp.raise_for_status()
                    beat = latest_beat(resp.json(), check.kuma)
                    if beat is None:
                        last = (f"status page {check.status_page} shows no heartbeat of "
                                f"monitor {check.kuma}")
                    elif beat[1] <= since:
                        last = (f"last heartbeat ({_NAMES.get(beat[0], beat[0])}) is from "
                                "before the change")
                    elif beat[0] == UP:
                        return GateResult("kuma", description, True,
                                          f"monitor {check.kuma} is UP at {beat[1]:%H:%M:%S}",
                                          clock.monotonic() - start)
                    else:
                        last = f"monitor {check.kuma} is {_NAMES.get(beat[0], beat[0])}" + (
                            f": {beat[2]}" if beat[2] else "")
                else:
                    resp = await client.get(f"{base}/api/badge/{check.kuma}/status",
                                            params=BADGE_LABELS)
                    resp.raise_for_status()
                    status = badge_status(resp.text)
                    if status == "Up":
                        return GateResult("kuma", description, True,
                                          f"monitor {check.kuma} badge reads Up",
                                          clock.monotonic() - start)
                    last = f"monitor {check.kuma} badge reads {status or 'nothing readable'}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"Uptime Kuma did not answer usefully: {exc}"
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return GateResult("kuma", description, False,
                                  f"Uptime Kuma monitor {check.kuma} not UP within "
                                  f"{check.within:g}s; last: {last}", clock.monotonic() - start)
            await clock.sleep(min(check.interval, remaining))
