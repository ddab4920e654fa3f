"""Deploy windows and freezes: when deploys may happen. Pure: a time in, a verdict out.

``CHATOPS_DEPLOY_WINDOWS="mon-fri 09:00-17:00; sat 10:00-12:00"`` (in CHATOPS_TIMEZONE;
unset: always open) and ``CHATOPS_FREEZE="2026-12-20..2027-01-03"`` (dates, inclusive,
several separated by ``;``; ``always`` freezes everything).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from msgspec import Struct

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
                   r"(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


class Window(Struct, frozen=True):
    days: frozenset[int]
    start: time
    end: time  # exclusive; 24:00 is written 00:00 of the next day: use 23:59


class Policy(Struct, frozen=True):
    windows: tuple[Window, ...] = ()
    freezes: tuple[tuple[date, date], ...] = ()
    always_frozen: bool = False

    def is_open(self, now: datetime) -> bool:
        if self.always_frozen:
            return False
        if any(lo <= now.date() <= hi for lo, hi in self.freezes):
            return False
        if not self.windows:
            return True
        return any(now.weekday() in w.days and w.start <= now.time() < w.end
                   for w in self.windows)

    def next_open(self, now: datetime) -> datetime | None:
        """The first minute at or after ``now`` when deploys may happen (None: never)."""
        if self.always_frozen:
            return None
        probe = now.replace(second=0, microsecond=0)
        for _ in range(4000):  # days; frozen spans are jumped over whole
            frozen = next((hi for lo, hi in self.freezes if lo <= probe.date() <= hi), None)
            if frozen is not None:
                probe = datetime.combine(frozen + timedelta(days=1), time(0, 0),
                                         tzinfo=probe.tzinfo)
                continue
            if not self.windows:
                return probe
            starts = sorted(max(w.start, probe.time()) for w in self.windows
                            if probe.weekday() in w.days and probe.time() < w.end)
            if starts:
                return probe.replace(hour=starts[0].hour, minute=starts[0].minute)
            probe = datetime.combine(probe.date() + timedelta(days=1), time(0, 0),
                                     tzinfo=probe.tzinfo)
        return None


def _days(spec: str) -> frozenset[int]:
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if lo not in DAYS or (hi and hi not in DAYS):
            raise ValueError(f"unknown day in {spec!r}; days are {', '.join(DAYS)}")
        a, b = DAYS.index(lo), DAYS.index(hi or lo)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def parse_policy(windows: str | None, freeze: str | None) -> Policy:
    """Raise ValueError with a message naming what was expected."""
    spans = []
    for raw in (windows or "").split(";"):
        item = " ".join(raw.lower().split())
        if not item:
            continue
        match = _SPAN.match(item)
        if not match:
            raise ValueError(f"expected windows such as 'mon-fri 09:00-17:00', got {item!r}")
        start, end = (time.fromisoformat(match[g]) for g in ("start", "end"))
        if start >= end:
            raise ValueError(f"window {item!r} ends before it starts")
        spans.append(Window(_days(match["days"]), start, end))
    freezes = []
    always = False
    for raw in (freeze or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        if item.lower() == "always":
            always = True
            continue
        lo, sep, hi = item.partition("..")
        try:
            first = date.fromisoformat(lo.strip())
            last = date.fromisoformat(hi.strip()) if sep else first
        except ValueError:
            raise ValueError(f"expected a freeze such as 2026-12-20..2027-01-03, got {item!r}"
                             ) from None
        freezes.append((first, last))
    return Policy(tuple(spans), tuple(freezes), always)
