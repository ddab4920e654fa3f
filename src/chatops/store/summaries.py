"""One line on what a run did to traffic, for tables and chat (the standard library only:
``chatops runs`` prints it without loading the run store)."""

from __future__ import annotations

from typing import Any


def traffic_summary(traffic: dict[str, Any] | None) -> str:
    """One line on what a blue-green run did to traffic, for tables and chat."""
    if not traffic or not traffic.get("before"):
        return ""
    canary = traffic.get("canary")
    prefix = ""
    if canary:
        steps = len(canary.get("steps") or [])
        waiting = {"promote": ", waiting for 'chatops promote'",
                   "traffic": ", waiting for traffic"}.get(canary.get("waiting") or "", "")
        prefix = f"canary at {canary.get('weight', 0)}% (step {canary.get('step', 0)}/" \
            f"{steps}{waiting})"
        if canary.get("last"):
            prefix += f": {canary['last']}"
        if not traffic.get("switched"):
            return prefix
        prefix += " | "
    return prefix + _switch_summary(traffic)


def _switch_summary(traffic: dict[str, Any]) -> str:
    before, after = traffic.get("before"), traffic.get("after")
    target = traffic.get("target") or after
    if not traffic.get("switched"):
        return f"{before} kept serving; {target} never received traffic"
    if traffic.get("switched_back"):
        text = (f"{before} → {target} → back to {after} in "
                f"{traffic.get('switch_back_ms', 0):g} ms")
    else:
        text = f"{before} → {after}"
        at = str(traffic.get("switched_at") or "")[11:23]
        if at:
            text += f" at {at}"
        if traffic.get("healthy_to_switched_ms") is not None:
            text += f" ({traffic['healthy_to_switched_ms']:g} ms after it passed its gates)"
    if traffic.get("drain_seconds") is not None:
        text += f"; drained in {traffic['drain_seconds']:.2f}s"
        if traffic.get("drain_left"):
            text += f" ({traffic['drain_left']} cut)"
    if traffic.get("failed_requests") is not None:
        text += f"; {traffic['failed_requests']} failed request(s) by the proxy"
    standby = traffic.get("standby") or {}
    if standby.get("slot"):
        text += f"; standby {standby['slot']} until {str(standby.get('until'))[11:16]} UTC"
    return text
