"""Time, behind one small interface so that deadlines can be tested without waiting."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (for records)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for deadlines)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        import asyncio  # noqa: PLC0415 - a validation never sleeps: kept off its imports

        await asyncio.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` advances time at once instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0
        self.slept = 0.0

    def now(self) -> datetime:
        return self._now + timedelta(seconds=self._mono - 1000.0)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        self._mono += max(0.0, seconds)
        self.slept += max(0.0, seconds)
        import asyncio  # noqa: PLC0415

        await asyncio.sleep(0)
