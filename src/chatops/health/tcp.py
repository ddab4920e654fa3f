"""The ``tcp`` gate: a port accepts connections."""

from __future__ import annotations

import contextlib

from pydantic import Field

from chatops.durations import format_duration
from chatops.health.registry import Check, GateContext, GateKind, GateResult, Slot, poll, register
from chatops.intents.fields import Duration, HostPort


class TcpCheck(Check):
    """Wait until a TCP port accepts connections."""

    tcp: HostPort = Field(description="HOST:PORT to connect to, e.g. 127.0.0.1:32400")
    within: Duration = 60.0
    interval: Duration = 0.5


def describe(check: TcpCheck) -> str:
    return f"TCP {check.tcp} accepts connections within {format_duration(check.within)}"


async def run(check: TcpCheck, ctx: GateContext) -> GateResult:
    import asyncio  # noqa: PLC0415 - reading an intent needs no event loop

    host, _, port = check.tcp.rpartition(":")
    host = host.strip("[]")
    clock = ctx.clock

    async def attempt(deadline: float) -> tuple[bool, str]:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port)),
                max(0.1, min(5.0, deadline - clock.monotonic())))
        except (OSError, TimeoutError) as exc:
            return False, str(exc) or type(exc).__name__
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, "accepted a connection"

    return await poll(attempt, kind="tcp", description=ctx.description, within=check.within,
                      interval=check.interval, clock=clock,
                      failed=lambda last: f"{check.tcp} refused connections for "
                      f"{check.within:g}s; last: {last}")


def sees_stable(check: TcpCheck, slot: Slot) -> bool:
    host, _, port = check.tcp.rpartition(":")
    return slot.is_stable(host, int(port))


def aim(check: TcpCheck, slot: Slot) -> TcpCheck:
    if not sees_stable(check, slot):
        return check
    return check.model_copy(update={"tcp": f"{slot.host}:{slot.port}"})


KIND = register(GateKind(key="tcp", model=TcpCheck, describe=describe, run=run, aim=aim,
                         sees_stable=sees_stable))
