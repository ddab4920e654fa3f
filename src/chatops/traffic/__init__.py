"""Traffic drivers for blue-green deploys: the proxies chatops switches (see ``base``)."""

from chatops.traffic import haproxy, npm, traefik
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
    other,
)

__all__ = ["DRIVERS", "SLOTS", "Backend", "Counters", "Driver", "DriverKind", "Routing",
           "backend_for", "driver_for", "haproxy", "npm", "other", "traefik"]
