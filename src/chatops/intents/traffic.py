"""The ``traffic`` block of an intent: how a blue-green service is reached and switched.

```yaml
strategy: blue-green
traffic:
  driver: haproxy            # haproxy (default), traefik or npm
  listen: 127.0.0.1:8080     # the stable address clients use
  ports: {blue: 18081, green: 18082}
  drain: 30s
  standby: 10m
  smoke:
    - {path: /health, status: 200, body: ok}
```

Each slot is the service run as its own Compose project with ``CHATOPS_SLOT`` (``blue``
or ``green``) and ``CHATOPS_SLOT_PORT`` (its port) in the environment, so the compose
file binds ``${CHATOPS_SLOT_PORT}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Struct
from pydantic import AfterValidator, Field, field_validator, model_validator

from chatops.intents.fields import Duration, HostPort, StatusRange, _Strict


class DriverTraits(Struct, frozen=True):
    """What the intent contract knows of a traffic driver: what its block must name,
    and whether it can split requests by weight (a canary needs that)."""

    title: str
    weights: bool = True
    needs_listen: bool = True  # the stable HOST:PORT clients use
    proxy_host: bool = False  # the id of the proxy host it switches (Nginx Proxy Manager)


#: The traffic drivers an intent may name; ``chatops.traffic`` implements each one (a
#: test holds the two to the same names).
DRIVERS = {
    "haproxy": DriverTraits("HAProxy"),
    "traefik": DriverTraits("Traefik"),
    "npm": DriverTraits("Nginx Proxy Manager", weights=False, needs_listen=False,
                        proxy_host=True),
}
DRIVER_NAMES = tuple(DRIVERS)
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _path(value: str) -> str:
    if not value.startswith("/") or any(c in value for c in " \r\n\t"):
        raise ValueError(f"expected a URL path starting with / (no spaces), got {value!r}")
    return value


def _host(value: str) -> str:
    if not value or (any(c in value for c in "/:@ ") and not value.startswith("[")):
        raise ValueError(f"expected a host name or IP address such as 127.0.0.1, got "
                         f"{value!r}")
    return value


def _driver(value: str) -> str:
    if value not in DRIVER_NAMES:
        raise ValueError(f"unknown driver {value!r}; known: {', '.join(sorted(DRIVER_NAMES))}")
    return value


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError(f"expected a port from 1 to 65535, got {value}")
    return value


Port = Annotated[int, AfterValidator(_port)]


class SlotPorts(_Strict):
    """The port each slot's copy of the service listens on."""

    blue: Port
    green: Port

    @model_validator(mode="after")
    def _differ(self) -> SlotPorts:
        if self.blue == self.green:
            raise ValueError(f"blue and green need different ports; both are {self.blue}")
        return self


class SmokeCheck(_Strict):
    """One request to the new slot, before any traffic reaches it."""

    path: Annotated[str, AfterValidator(_path)] = Field(description="path to request")
    method: Method = "GET"
    status: StatusRange = Field(default=(200, 399), description="expected status or range")
    body: str | None = Field(default=None, description="text the response must contain")
    send: str | None = Field(default=None, description="request body (POST, PUT, PATCH)")
    timeout: Duration = Field(default=5.0, description="time limit of the request")


class Traffic(_Strict):
    """How a blue-green service is reached, switched and drained."""

    driver: Annotated[str, AfterValidator(_driver)] = Field(
        default="haproxy", description="the proxy that switches traffic: haproxy, traefik "
        "or npm (Nginx Proxy Manager)")
    listen: HostPort | None = Field(
        default=None, description="the stable HOST:PORT clients use (haproxy, traefik)")
    host: Annotated[str, AfterValidator(_host)] = Field(
        default="127.0.0.1", description="where both slots listen, as the proxy reaches them")
    ports: SlotPorts = Field(description="each slot's port: {blue: 18081, green: 18082}")
    drain: Duration = Field(default=30.0, description="how long the old slot may finish "
                            "its open requests after the switch")
    standby: Duration = Field(default=600.0, description="how long the old slot is kept "
                              "(stopped, intact) so that going back is a switch")
    smoke: list[SmokeCheck] = Field(default=[], description="requests the new "
                                    "slot must answer before it receives traffic")
    two_copies: bool = Field(default=False, description="the service tolerates two "
                             "copies at once (a shared named volume, say)")
    message: str = Field(default="This service is down for maintenance; it will be back "
                         "shortly.", max_length=500, description="what a paused service "
                         "answers (503)")
    proxy_host: int | None = Field(default=None, ge=1, description="npm: the proxy host id")

    @field_validator("message")
    @classmethod
    def _printable(cls, value: str) -> str:
        bad = next((ch for ch in value if ord(ch) < 32 or ord(ch) == 127), None)
        if bad is not None:
            raise ValueError(f"contains the control character {bad!r}; the message is one "
                             "line of text (it is written into the proxy's configuration)")
        return value

    @model_validator(mode="after")
    def _addresses(self) -> Traffic:
        if self.listen is not None:
            port = int(self.listen.rpartition(":")[2])
            for slot in ("blue", "green"):
                if getattr(self.ports, slot) == port:
                    raise ValueError(f"ports.{slot} ({port}) is the listen port; each slot "
                                     "needs a port of its own")
        traits = DRIVERS[self.driver]
        if traits.needs_listen and self.listen is None:
            raise ValueError(f"driver {self.driver} needs listen: the stable HOST:PORT "
                             "clients use")
        named = [n for n, t in DRIVERS.items() if t.proxy_host]
        if not traits.proxy_host and self.proxy_host is not None:
            raise ValueError(f"proxy_host only applies to driver {' or '.join(named)}, not "
                             f"{self.driver}")
        if traits.proxy_host and self.proxy_host is None:
            raise ValueError(f"driver {self.driver} needs proxy_host: the id of the proxy "
                             f"host in {traits.title}")
        return self
