"""Uptime Kuma push monitor: each run's outcome, so Kuma shows deploy health.

``GET <push URL>?status=up|down&msg=...&ping=<ms>`` as Kuma's push monitors expect.
The URL holds the monitor's token, so it stays in the settings, never in the outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatops.notify.messages import ChatMessage
from chatops.notify.outbox import Delivery
from chatops.notify.targets import RunNotice
from chatops.tls import async_client

if TYPE_CHECKING:
    from chatops.notify.targets import Target
    from chatops.settings import Settings

TARGET = "kuma-push"
MAX_MSG = 250


def push_payload(*, intent: str, status: str, reason: str | None, duration: float | None,
                 run_id: str) -> dict[str, Any]:
    up = status == "succeeded"
    msg = f"{intent}: {status}" + (f" ({reason})" if reason and not up else "")
    return {"status": "up" if up else "down", "msg": msg[:MAX_MSG],
            "ping": round((duration or 0.0) * 1000), "run_id": run_id}


def retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def targets(settings: Settings) -> list[Target]:
    """Uptime Kuma's push monitor, when ``CHATOPS_KUMA_PUSH_URL`` is set."""
    return [KumaPush(settings.kuma_push_url)] if settings.kuma_push_url else []


class KumaPush:
    name = TARGET

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def for_run(self, notice: RunNotice) -> dict[str, Any] | None:
        """Every run's outcome: up when it succeeded, down otherwise."""
        return push_payload(intent=notice.intent, status=notice.status, reason=notice.reason,
                            duration=notice.duration, run_id=notice.run_id)

    def for_security(self, message: ChatMessage) -> dict[str, Any] | None:
        return None  # a monitor's status is about deploys, not about refused requests

    async def __call__(self, payload: dict[str, Any]) -> Delivery:
        import httpx  # noqa: PLC0415 - only a host with a push monitor pays for it

        params = {k: str(payload[k]) for k in ("status", "msg", "ping")}
        try:
            async with async_client(timeout=self.timeout) as client:
                resp = await client.get(self.url, params=params)
        except httpx.HTTPError as exc:
            return Delivery(False, f"Uptime Kuma push failed: {type(exc).__name__}")
        if resp.status_code == 429:
            return Delivery(False, "Uptime Kuma answered 429",
                            retry_after=retry_after(resp.headers))
        if resp.status_code >= 500:
            return Delivery(False, f"Uptime Kuma answered {resp.status_code}")
        if resp.status_code >= 400:
            return Delivery(False, f"Uptime Kuma refused the push ({resp.status_code}); "
                            "check CHATOPS_KUMA_PUSH_URL", permanent=True)
        try:
            ok = bool(resp.json().get("ok"))
        except ValueError:
            ok = False
        if not ok:
            return Delivery(False, "Uptime Kuma did not accept the push (unknown token or "
                            "paused monitor)", permanent=True)
        return Delivery(True, "pushed")
