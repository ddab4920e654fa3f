"""The ``canary`` block of an intent: how much traffic the new version gets, for how
long, and what the proxy's numbers must show at every step.

```yaml
strategy: canary
traffic: {driver: haproxy, listen: 127.0.0.1:8080, ports: {blue: 18081, green: 18082}}
canary:
  steps:
    - {weight: 10, pause: 60s}
    - {weight: 50, pause: manual}    # held until 'chatops promote RUN'
    - {weight: 100}
  interval: 10s          # one analysis window
  max_error_rate: 0.05   # 5xx and failed connections / requests, in a window
  max_error_rate_over_stable: 0.01
  max_p95: 500ms
  min_requests: 20
  too_few: wait          # wait, promote or abort when a step saw fewer requests
```
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from chatops.durations import parse_duration
from chatops.intents.fields import Duration, _Strict

MANUAL = "manual"


def _pause(value: Any) -> Any:
    if value == MANUAL:
        return value
    if isinstance(value, (bool, int | float)) or (
            isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
        raise ValueError(f"expected a duration with its unit, such as 60s or 2m, or "
                         f"'manual'; got {value!r}")
    return parse_duration(value)


Pause = Annotated[float | Literal["manual"], BeforeValidator(_pause)]


class CanaryStep(_Strict):
    weight: int = Field(ge=1, le=100, description="percent of new requests to the new "
                        "version during this step")
    pause: Pause | None = Field(default=None, description="how long the step lasts "
                                "(60s, 2m) while its numbers are judged, or 'manual'")


class Canary(_Strict):
    """A canary's steps and the limits its numbers must keep at every step."""

    steps: list[CanaryStep] = Field(min_length=1, description="weights in increasing "
                                    "order, the last one 100")
    interval: Duration = Field(default=10.0, description="one analysis window")
    max_error_rate: float = Field(default=0.05, ge=0, le=1, description="5xx answers and "
                                  "failed connections per request, in one window")
    max_error_rate_over_stable: float = Field(
        default=0.02, ge=0, le=1, description="how much worse than the stable version "
        "over the same window")
    max_p95: Duration | None = Field(default=None, description="response time limit "
                                     "(HAProxy gives only its average response time)")
    min_requests: int = Field(default=20, ge=1, le=10_000_000, description="requests a "
                              "step needs before its numbers count")
    too_few: Literal["wait", "promote", "abort"] = Field(
        default="wait", description="what a step that saw fewer than min_requests does")

    @model_validator(mode="after")
    def _weights(self) -> Canary:
        weights = [s.weight for s in self.steps]
        if weights[-1] != 100:
            raise ValueError(f"the steps' weights must end at 100 (all traffic to the new "
                             f"version); they end at {weights[-1]}")
        if any(b <= a for a, b in itertools.pairwise(weights)):
            raise ValueError(f"the steps' weights must increase; got {weights}")
        for i, step in enumerate(self.steps[:-1]):
            if step.pause is None:
                raise ValueError(f"step {i + 1} (weight {step.weight}) needs a pause: "
                                 "how long its numbers are judged (60s), or manual")
        return self
