"""The rules of two slots, pure: a gate aimed at one slot, the gates that judge the stable
address, why a second copy of a service would collide with the first, and one smoke
request."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from msgspec.structs import replace

from chatops.health import kind_of
from chatops.health.registry import Slot
from chatops.intents.traffic import SmokeCheck, Traffic
from chatops.planning.steps import Gate

if TYPE_CHECKING:
    pass




def slot_of(traffic: Traffic, slot: str) -> Slot:
    """Where ``slot`` of ``traffic`` answers, and the stable address in front of it."""
    listen = None
    if traffic.listen is not None:
        host, _, port = traffic.listen.rpartition(":")
        listen = (host, int(port))
    return Slot(listen=listen, host=traffic.host, port=getattr(traffic.ports, slot))


def aimed(gate: Gate, traffic: Traffic, slot: str) -> Gate | None:
    """``gate`` pointed at ``slot`` instead of the stable address (each gate kind knows
    how); None for a gate that cannot see one slot."""
    kind = kind_of(gate.check)
    check = kind.aim(gate.check, slot_of(traffic, slot))
    if check is None:
        return None
    if check is gate.check:
        return gate
    return replace(gate, check=check, description=kind.describe(check))


def through_proxy(gates: tuple[Gate, ...], traffic: Traffic) -> tuple[Gate, ...]:
    """The gates that judge the stable address: checked again after the switch."""
    where = slot_of(traffic, "blue")
    return tuple(g for g in gates if kind_of(g.check).sees_stable(g.check, where))


def two_copies_problems(service: str, render: dict[str, Any],
                        live_published: set[str]) -> list[str]:
    """Why a second copy of ``service`` (Compose's config of the new slot) would collide
    with the one that runs (the ports its containers publish), naming the field."""
    problems: list[str] = []
    spec = (render.get("services") or {}).get(service) or {}
    if spec.get("container_name"):
        problems.append(f"container_name: {spec['container_name']!r} can name only one "
                        "container; remove it so that both slots can run")
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict) and volume.get("type") == "volume" and volume.get("source"):
            problems.append(f"volumes: the named volume {volume['source']!r} would be "
                            "used by both slots at once")
    live_ports = {p.rpartition(":")[2]: p for p in live_published}
    for port in spec.get("ports") or []:
        published = str(port.get("published") or "") if isinstance(port, dict) else ""
        if published and published in live_ports:
            problems.append(f"ports: port {published} is published by the live slot "
                            "already; publish ${CHATOPS_SLOT_PORT} instead")
    return problems


def delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


async def smoke_one(client: Any, check: SmokeCheck) -> tuple[bool, str, float]:
    import httpx  # noqa: PLC0415

    start = time.monotonic()
    try:
        resp = await client.request(check.method, check.path, content=check.send,
                                    timeout=check.timeout)
    except httpx.HTTPError as exc:
        return False, f"did not answer: {type(exc).__name__}", time.monotonic() - start
    took = time.monotonic() - start
    lo, hi = check.status
    if not lo <= resp.status_code <= hi:
        return False, f"answered {resp.status_code}, expected {lo}-{hi}", took
    if check.body is not None and check.body not in resp.text:
        return False, f"answered {resp.status_code} without {check.body!r} in the body", took
    return True, f"answered {resp.status_code}", took
