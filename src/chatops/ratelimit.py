"""Token buckets per client address and per key, and lockouts after repeated bad keys."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from msgspec import Struct, field

MAX_TRACKED = 50_000


class Bucket(Struct):
    tokens: float
    stamp: float


class RateLimiter(Struct):
    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, who: str) -> float:
        """0.0 when allowed, else seconds until a token is free (for Retry-After)."""
        now = self.clock()
        bucket = self._buckets.get(who)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._buckets.clear()  # bounded memory under an address-spraying flood
            bucket = self._buckets[who] = Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class Lockout(Struct):
    """Per address: ``failures`` bad keys within ``window`` lock it out for ``duration``.

    Across addresses: more than ``budget`` bad keys within ``window`` is a spray (many
    addresses each staying under their own limit); while it lasts, one bad key locks an
    address out, and the first one raises ``key_spray``.
    """

    failures: int
    window: float
    duration: float
    budget: int = 50
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _until: dict[str, float] = field(default_factory=dict)
    _seconds: deque[list[float]] = field(default_factory=deque)  # [second, count]
    _total: int = 0
    spraying: bool = False

    def _count_global(self, now: float) -> int:
        second = math.floor(now)
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += 1
        else:
            self._seconds.append([second, 1])
        self._total += 1
        while self._seconds and self._seconds[0][0] <= now - self.window:
            self._total -= int(self._seconds.popleft()[1])
        return self._total

    def locked(self, who: str) -> float:
        """Seconds left on ``who``'s lockout, or 0.0."""
        until = self._until.get(who)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._until[who]
            return 0.0
        return left

    def failed(self, who: str, *, key: bool = True) -> list[str]:
        """Count a failure of ``who`` (a bad key; with ``key=False`` a request that did
        not arrive in time, which counts for the address alone); the events it causes:
        ``key_spray`` (the budget across addresses is spent, once per spray) and
        ``lockout_started`` (``who`` is out)."""
        now = self.clock()
        events: list[str] = []
        if key:
            total = self._count_global(now)
            if total > self.budget and not self.spraying:
                self.spraying = True
                events.append("key_spray")
            elif total <= self.budget:
                self.spraying = False
        fails = self._fails.get(who)
        if fails is None:
            if len(self._fails) >= MAX_TRACKED:
                self._fails.clear()
            fails = self._fails[who] = deque()
        fails.append(now)
        while fails and fails[0] < now - self.window:
            fails.popleft()
        if len(fails) >= self.failures or self.spraying:
            self._until[who] = now + self.duration
            fails.clear()
            events.append("lockout_started")
        return events


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
