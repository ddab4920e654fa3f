"""A canary's analysis: the proxy's counters of both slots over one window, judged
against the intent's limits. Pure."""

from __future__ import annotations

from msgspec import Struct

from chatops.intents.canary import Canary
from chatops.traffic.base import SlotCounters


class Window(Struct, frozen=True):
    """What one slot did between two reads of the proxy's counters."""

    requests: int = 0
    errors: int = 0
    latency_ms: float | None = None  # p95 (Traefik's histogram) or the average (HAProxy)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def __add__(self, other: Window) -> Window:
        return Window(self.requests + other.requests, self.errors + other.errors,
                      other.latency_ms if other.latency_ms is not None else self.latency_ms)

    def describe(self) -> str:
        text = f"{self.requests} requests, {self.errors} errors ({self.error_rate:.1%})"
        if self.latency_ms is not None:
            text += f", {self.latency_ms:.0f} ms"
        return text


def window(before: SlotCounters | None, after: SlotCounters | None) -> Window:
    if after is None:
        return Window()
    before = before or SlotCounters()
    latency = after.latency_ms
    if after.buckets:
        latency = _p95_ms(before.buckets, after.buckets)
    return Window(max(0, after.requests - before.requests),
                  max(0, after.errors - before.errors), latency)


def _p95_ms(before: tuple[tuple[float, float], ...],
            after: tuple[tuple[float, float], ...]) -> float | None:
    """The upper bound of the histogram bucket holding the 95th percentile of the
    requests between the two reads."""
    start = dict(before)
    deltas = [(le, count - start.get(le, 0.0)) for le, count in after]
    total = max((c for _, c in deltas), default=0.0)
    if total <= 0:
        return None
    for le, count in deltas:
        if count >= 0.95 * total:
            return le * 1000 if le != float("inf") else None
    return None


class Verdict(Struct, frozen=True):
    outcome: str  # pass, fail, too_few
    text: str


def judge(canary: Window, stable: Window, limits: Canary) -> Verdict:
    numbers = f"canary {canary.describe()}; stable {stable.describe()}"
    if canary.requests < limits.min_requests:
        return Verdict("too_few", f"{numbers}: fewer than {limits.min_requests} requests")
    if canary.error_rate > limits.max_error_rate:
        return Verdict("fail", f"{numbers}: error rate {canary.error_rate:.1%} is above "
                       f"max_error_rate {limits.max_error_rate:.1%}")
    if stable.requests and \
            canary.error_rate - stable.error_rate > limits.max_error_rate_over_stable:
        return Verdict("fail", f"{numbers}: error rate {canary.error_rate:.1%} is more than "
                       f"{limits.max_error_rate_over_stable:.1%} above the stable version's "
                       f"{stable.error_rate:.1%}")
    if limits.max_p95 is not None and canary.latency_ms is not None and \
            canary.latency_ms > limits.max_p95 * 1000:
        return Verdict("fail", f"{numbers}: response time {canary.latency_ms:.0f} ms is "
                       f"above max_p95 {limits.max_p95 * 1000:.0f} ms")
    return Verdict("pass", numbers)
