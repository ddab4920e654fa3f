"""Traffic drivers for blue-green deploys: the proxies chatops switches (see ``base``).

Each driver's module (``haproxy``, ``npm``, ``traefik``) is imported when it is first
needed: ``driver_for`` and ``driver_kind`` load one, ``registered`` all of them."""

from chatops.traffic.base import (
    DRIVERS,
    SLOTS,
    Backend,
    Counters,
    Driver,
    DriverKind,
    Routing,
    backend_for,
    driver_for,
    driver_kind,
    other,
    registered,
)

__all__ = ["DRIVERS", "SLOTS", "Backend", "Counters", "Driver", "DriverKind", "Routing",
           "backend_for", "driver_for", "driver_kind", "other", "registered"]
