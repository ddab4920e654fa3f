"""What a blue-green deploy needs from the proxy in front of a service, and nothing more.

A service deployed blue-green runs in two *slots* (``blue`` and ``green``), each its own
Compose project on its own port. The proxy holds one stable address and sends every new
request to one slot: the *live* one. A driver switches that in one step, says which slot
is live (the proxy is the source of truth, so a restarted chatops asks it), counts the
requests still open on a slot (to confirm a drain) and the requests that failed (for the
record), and can hold a service in maintenance.

Drivers are found by name in ``DRIVERS`` (see ``register``); each module of this package
is named after its driver, registers it, and is imported when a driver of that name is
first needed (``driver_kind``), so a run that switches no traffic loads no proxy code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct, field

from chatops.errors import ConfigError
from chatops.intents.traffic import DRIVERS as TRAITS
from chatops.kinds import import_kind

if TYPE_CHECKING:
    from chatops.intents.traffic import Traffic
    from chatops.settings import Settings

SLOTS = ("blue", "green")


def other(slot: str) -> str:
    return "green" if slot == "blue" else "blue"


def backend_name(stack: str, service: str) -> str:
    """The proxy-side name of a service's backend: ``chatops_<stack>_<service>``."""
    return "chatops_" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{stack}_{service}")


def written_live(path: Path) -> str | None:
    """The live slot a file chatops wrote says (its ``# chatops: live SLOT`` line)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("# chatops: live "):
            slot = line.removeprefix("# chatops: live ").strip()
            return slot if slot in SLOTS else None
    return None


class Backend(Struct, frozen=True):
    """One blue-green service as a proxy sees it."""

    stack: str
    service: str
    listen: str | None  # HOST:PORT clients use (HAProxy frontend, Traefik entry point)
    upstreams: dict[str, tuple[str, int]]  # slot -> (host, port)
    message: str = "This service is down for maintenance; it will be back shortly."
    proxy_host: int | None = None  # Nginx Proxy Manager's proxy host id

    @property
    def name(self) -> str:
        return backend_name(self.stack, self.service)

    def address(self, slot: str) -> str:
        host, port = self.upstreams[slot]
        return f"{host}:{port}"

    def slot_at(self, host: str, port: int) -> str | None:
        return next((s for s, hp in self.upstreams.items() if hp == (host, port)), None)


class Routing(Struct, frozen=True):
    """Where new requests go now, by the proxy's own account."""

    live: str | None  # the slot new requests go to; None when paused or never set up
    ready: tuple[str, ...] = ()  # every slot that may receive new requests
    paused: bool = False


class SlotCounters(Struct, frozen=True):
    """One slot's counters since the proxy started, for a canary's analysis."""

    requests: int = 0  # answered by the slot (or failed on the way to it)
    errors: int = 0  # 5xx answers and failed connections or responses
    latency_ms: float | None = None  # the proxy's average response time (HAProxy)
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound s, cumulative count)


class Counters(Struct, frozen=True):
    """The proxy's statistics for the backend, read at one moment."""

    open: dict[str, int] = field(default_factory=dict)  # slot -> requests/sessions open
    failed: int | None = 0  # failed requests since the proxy started (errors and 5xx it
    # saw); None when the proxy does not count them
    requests: int = 0  # requests answered since the proxy started
    slots: dict[str, SlotCounters] = field(default_factory=dict)


class Driver(Protocol):
    """One proxy in front of one blue-green service."""

    backend: Backend

    async def check(self) -> None:
        """Raise ``ProxyUnavailableError`` or ``TrafficError`` (naming the setting or the
        missing backend) unless the proxy answers and knows this backend."""

    async def routing(self) -> Routing: ...

    async def switch(self, to: str) -> None:
        """Send every new request to ``to`` in one step, and confirm it took effect; the
        slot that served keeps its open requests (it drains)."""

    async def counters(self) -> Counters: ...

    async def weigh(self, canary: str, weight: int) -> None:
        """Send ``weight`` percent of new requests to ``canary`` and the rest to the other
        slot, both serving; confirm it took effect."""

    async def retire(self, slot: str) -> None:
        """After its drain: ``slot`` receives nothing more, not even old connections."""

    async def pause(self) -> None:
        """Answer every request with the maintenance message (503); no slot is live."""

    async def resume(self, slot: str) -> None: ...

    @property
    def config_path(self) -> Path | None:
        """The file chatops owns in the proxy's configuration; None when the driver
        configures the proxy through its API only."""

    async def configuration(self) -> str | None:
        """What chatops writes into ``config_path`` to set the backend up, keeping the
        slot it already routes to."""

    async def close(self) -> None: ...


class DriverKind(Struct, frozen=True):
    """A traffic driver: its name, what it needs from the settings, how to build it."""

    name: str
    build: Callable[[Backend, Settings], Driver]
    describe: str  # for plans: how the switch is made
    loaded: str = ""  # how the proxy takes up the file chatops writes (traffic config)


DRIVERS: dict[str, DriverKind] = {}


def register(kind: DriverKind) -> DriverKind:
    DRIVERS[kind.name] = kind
    return kind


def driver_kind(name: str) -> DriverKind | None:
    """The driver named ``name`` (its module, named after it, imported on first use), or
    None for a name the intent contract does not know."""
    if name not in DRIVERS and name in TRAITS:
        import_kind("chatops.traffic", name)
    return DRIVERS.get(name)


def registered() -> dict[str, DriverKind]:
    """Every driver the contract names, each module imported once."""
    for name in TRAITS:
        driver_kind(name)
    return DRIVERS


def backend_for(stack: str, service: str, traffic: Traffic) -> Backend:
    return Backend(
        stack=stack, service=service, listen=traffic.listen,
        upstreams={"blue": (traffic.host, traffic.ports.blue),
                   "green": (traffic.host, traffic.ports.green)},
        message=traffic.message, proxy_host=traffic.proxy_host,
    )


def driver_for(stack: str, service: str, traffic: Traffic, settings: Settings) -> Driver:
    """The driver an intent's ``traffic`` block names, built from this host's settings."""
    kind = driver_kind(traffic.driver)
    if kind is None:  # the intent model refuses this already; settings may lag behind
        raise ConfigError(f"traffic.driver: unknown driver {traffic.driver!r}; known: "
                          + ", ".join(sorted(registered())), field="traffic.driver")
    if TRAITS[traffic.driver].needs_listen and traffic.listen is None:
        raise ConfigError(f"traffic.listen is needed for {traffic.driver}: the stable "
                          "HOST:PORT clients use", field="traffic.listen")
    return kind.build(backend_for(stack, service, traffic), settings)
