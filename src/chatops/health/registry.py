"""Health-gate kinds, registered in one place.

A kind is its check model (the intent's ``health:`` entry, strict like the rest of the
contract), how the plan describes it, and how it runs. The intent model, its JSON Schema,
the planner and the executor all read this registry; the built-in kinds (``http``,
``tcp``, ``container``, ``kuma``) register themselves through ``register`` like any other,
so adding a kind is one module and its tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from chatops.intents.fields import Duration, _Strict

if TYPE_CHECKING:  # reading an intent needs neither an event loop nor an engine
    import asyncio

    from chatops.clock import Clock
    from chatops.engine.base import Engine


class Check(_Strict):
    """What every health check has: a deadline."""

    within: Duration = 60.0


class GateResult(Struct, frozen=True):
    kind: str
    description: str
    ok: bool
    detail: str
    duration: float


class GateContext(Struct):
    """What a running gate may use: the clock, the engine, the step it checks."""

    clock: Clock
    engine: Engine
    description: str
    since: datetime  # when the change was made
    kuma_url: str | None = None
    project: str | None = None  # the Compose project of the step
    services: list[str] = field(default_factory=list)  # the services the step touches
    expected: dict[str, int] = field(default_factory=dict)  # replicas the step wants
    spec: dict[str, int] = field(default_factory=dict)  # replicas the compose file says
    implicit: bool = False  # the gate chatops adds itself: the step's containers run
    others_passed: asyncio.Event | None = None  # set once every probe passed


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]", "*"})  # noqa: S104 - compared, never bound


class Slot(Struct, frozen=True):
    """One slot of a blue-green service, and the stable address in front of both."""

    listen: tuple[str, int] | None  # where the proxy listens (None: not known)
    host: str  # where the slot's port is published
    port: int

    def is_stable(self, host: str, port: int) -> bool:
        """Is ``host:port`` the stable address (the proxy's, not one slot's)?"""
        listen = self.listen
        if listen is None or port != listen[1]:
            return False
        return host == listen[0] or (listen[0] in ANY_ADDRESS and host in LOOPBACK_NAMES)


def keeps(check: Any, slot: Slot) -> Any:
    """``aim`` of a check that looks at no address: the same check, for every slot."""
    del slot
    return check


def blind(check: Any, slot: Slot) -> bool:
    """``sees_stable`` of a check that looks at no address."""
    del check, slot
    return False


class GateKind(Struct, frozen=True, kw_only=True):
    key: str  # the check's own key in YAML: ``- http: URL``
    model: type[Check]
    describe: Callable[[Any], str]
    run: Callable[[Any, GateContext], Awaitable[GateResult]]
    #: The check aimed at one slot of a blue-green service before the switch: a check of
    #: the stable address moved to the slot's, the same check when it looks elsewhere,
    #: None when it can only see the stable address. Every kind says: a kind that did
    #: not would check the old slot and pass.
    aim: Callable[[Any, Slot], Any | None]
    #: Does the check judge the stable address (so it is checked again after the switch)?
    sees_stable: Callable[[Any, Slot], bool]
    #: A probe proves the service answers, and so stands in for the stability window.
    probe: bool = True


REGISTRY: dict[str, GateKind] = {}
_BY_MODEL: dict[type[Check], GateKind] = {}


def register(kind: GateKind) -> GateKind:
    if kind.key in REGISTRY:
        raise ValueError(f"a health-gate kind {kind.key!r} is registered already")
    REGISTRY[kind.key] = kind
    _BY_MODEL[kind.model] = kind
    return kind


def kind_of(check: Check) -> GateKind:
    return _BY_MODEL[type(check)]


Attempt = Callable[[float], Awaitable[tuple[bool, str]]]


class GateFailed(Exception):  # noqa: N818 - an outcome of an attempt, not an error
    """Raised by an attempt that saw the gate can never pass (a container exited)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def poll(attempt: Attempt, *, kind: str, description: str, within: float,
               interval: float, clock: Clock, failed: Callable[[str], str],
               wake: asyncio.Event | None = None) -> GateResult:
    """Try until an attempt passes or ``within`` runs out; every gate polls this way.

    ``attempt(deadline)`` says (passed, what it saw), or raises ``GateFailed`` to fail at
    once; ``failed(last)`` words the failure at the deadline. ``wake`` cuts the wait
    between attempts short when it is set (the probes passed: look once more, now).
    """
    start = clock.monotonic()
    deadline = start + within
    while True:
        try:
            ok, seen = await attempt(deadline)
        except GateFailed as exc:
            return GateResult(kind, description, False, exc.detail, clock.monotonic() - start)
        if ok:
            return GateResult(kind, description, True, seen, clock.monotonic() - start)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return GateResult(kind, description, False, failed(seen),
                              clock.monotonic() - start)
        await _pause(clock, min(interval, remaining), wake)


async def _pause(clock: Clock, seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None or wake.is_set():
        await clock.sleep(seconds)
        return
    import asyncio  # noqa: PLC0415

    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    woken = asyncio.ensure_future(wake.wait())
    _, pending = await asyncio.wait({sleeping, woken}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
