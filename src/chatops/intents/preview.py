"""The ``preview`` block of an intent document: how a pull request's copy of its stack
runs beside production, when the pull request carries the preview label.

```yaml
preview:
  service: web            # the service the preview's URL reaches (default: the intent's)
  port: 8080              # its port inside the container
  network: own            # own (a network of its own) or host (with port_env)
  path: /health           # what must answer (below 500) before the preview counts
  env: {APP_ENV: preview} # variables for every service (and Compose interpolation)
  leave_out: [db]         # services not started (databases you don't want copied)
  secrets: {db_password: not-a-real-password}  # the preview's own secret files' values
  ttl: 3d                 # removed after this, even while the pull request is open
  cpus: 0.5               # limits of each service
  memory: 256m
  label_by: ["permission:write"]  # who may add the preview label (default: label_by)
```

A preview never gets the stack's own secrets: its ``env_file`` entries and encrypted
files are left out, and each Compose ``secrets``/``configs`` file takes its value from
``secrets`` here. Nor does it get the compose policy's exceptions.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from chatops.intents.fields import Duration, Env, Service, _label_rule, _Strict

MEMORY_RE = re.compile(r"^[1-9][0-9]{0,6}[kmg]$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _memory(value: str) -> str:
    if not MEMORY_RE.match(value):
        raise ValueError(f"expected a size such as 256m or 1g; got {value!r}")
    return value


def _secret_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not SECRET_NAME_RE.match(name):
            raise ValueError(f"{name!r}: expected the name of a Compose secret or config")
    return value


class Preview(_Strict):
    service: Service | None = Field(
        default=None, description="the service the preview's URL reaches (default: the "
        "intent's service)")
    port: int = Field(ge=1, le=65535, description="that service's port inside its "
                      "container")
    network: Literal["own", "host"] = Field(
        default="own", description="own: a network of the preview's own, the port "
        "published on loopback; host: host networking, the service told its port in "
        "port_env (only where chatops/policy.yaml sets preview_host_network)")
    port_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="with "
        "network host: the variable that gives the service the port to listen on")
    path: str = Field(default="/", pattern=r"^/[^\s]*$", max_length=500,
                      description="what must answer below 500, through the proxy, before "
                      "the preview counts as up")
    env: Env = Field(default_factory=dict, max_length=200, description="variables set in "
                     "every service of the preview, and for Compose's interpolation")
    leave_out: list[Service] = Field(
        default=[], max_length=100, description="services the preview does not "
        "start (a database you do not want copied); what depends on them no longer does")
    secrets: Annotated[dict[str, str], AfterValidator(_secret_names)] = Field(
        default_factory=dict, max_length=100, description="the value of each Compose "
        "secrets/configs file, by its name, in the preview (never production's)")
    ttl: Duration = Field(default=3 * 86400.0, description="removed this long after it "
                          "was created, even while the pull request is open")
    cpus: float = Field(default=1.0, gt=0, le=64, description="CPU limit of each service")
    memory: Annotated[str, AfterValidator(_memory)] = Field(
        default="512m", description="memory limit of each service (e.g. 256m, 1g)")
    label_by: list[Annotated[str, AfterValidator(_label_rule)]] = Field(
        default=[], max_length=50, description="who may add the preview label "
        "(default: the intent's label_by, then CHATOPS_LABEL_BY); never the pull request's "
        "author alone")

    @model_validator(mode="after")
    def _sane(self) -> Preview:
        if self.ttl < 10:
            raise ValueError("ttl is at least 10s")
        if self.network == "host" and self.port_env is None:
            raise ValueError("network host needs port_env: the variable that tells the "
                             "service which port to listen on")
        if self.service is not None and self.service in self.leave_out:
            raise ValueError(f"service {self.service} is the one the URL reaches; it cannot "
                             "be left out")
        return self
