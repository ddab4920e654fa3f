"""Scheduled runs: an intent's ``schedule`` (cron, in ``CHATOPS_TIMEZONE``) fires a run.

``tick`` is the whole decision, driven by an injected clock: a schedule fires once per
due time; it never overlaps itself (a previous run still going skips the fire, recorded);
fires missed while the service was down are skipped or run once, as configured, and the
choice is recorded. ``load`` follows the intents (after a Git sync): new schedules start
from now, changed ones restart, deleted ones are removed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from msgspec import Struct

from chatops.clock import Clock
from chatops.store.connect import open_sqlite
from chatops.store.database import utcnow

#: A fire later than this after its due time counts as missed (the service was down).
GRACE = timedelta(minutes=2)
MISSED_POLICIES = ("skip", "run-once")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    intent TEXT PRIMARY KEY,
    cron TEXT NOT NULL,
    last_fire TEXT NOT NULL,
    last_decision TEXT,
    last_run_id TEXT,
    updated_at TEXT NOT NULL
)
"""


class ScheduleState(Struct, frozen=True):
    intent: str
    cron: str
    last_fire: datetime
    last_decision: str | None
    last_run_id: str | None
    next_fire: datetime


class Scheduler:
    def __init__(self, path: Path, clock: Clock, *, timezone: str = "UTC",
                 missed: str = "skip") -> None:
        if missed not in MISSED_POLICIES:
            raise ValueError(f"missed runs: expected skip or run-once, got {missed!r}")
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.missed = missed
        self._db = open_sqlite(path, _SCHEMA, "schedules")

    def close(self) -> None:
        self._db.close()

    def _now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    def _next(self, cron: str, after: datetime) -> datetime:
        nxt: datetime = croniter(cron, after.astimezone(self.tz)).get_next(datetime)
        return nxt

    def load(self, schedules: Mapping[str, str]) -> None:
        """Follow the intents: add new schedules from now, drop deleted, restart changed."""
        now = self._now().isoformat()
        current = dict(self._db.execute("SELECT intent, cron FROM schedules").fetchall())
        for intent in set(current) - set(schedules):
            self._db.execute("DELETE FROM schedules WHERE intent=?", (intent,))
        for intent, cron in schedules.items():
            if current.get(intent) != cron:
                self._db.execute(
                    "INSERT OR REPLACE INTO schedules VALUES (?,?,?,NULL,NULL,?)",
                    (intent, cron, now, utcnow()))

    def states(self) -> list[ScheduleState]:
        rows = self._db.execute(
            "SELECT intent, cron, last_fire, last_decision, last_run_id FROM schedules"
            " ORDER BY intent").fetchall()
        out = []
        for intent, cron, last, decision, run_id in rows:
            last_fire = datetime.fromisoformat(last)
            out.append(ScheduleState(intent, cron, last_fire, decision, run_id,
                                     self._next(cron, last_fire)))
        return out

    def _record(self, intent: str, fire: datetime, decision: str,
                run_id: str | None) -> None:
        self._db.execute(
            "UPDATE schedules SET last_fire=?, last_decision=?, last_run_id=?, updated_at=?"
            " WHERE intent=?", (fire.isoformat(), decision, run_id, utcnow(), intent))

    async def tick(self, start: Callable[[str], Awaitable[str]],
                   running: Callable[[str], bool]) -> list[tuple[str, str]]:
        """Fire what is due now; return (intent, decision) for each schedule that was due."""
        now = self._now()
        decisions = []
        for state in self.states():
            if state.next_fire > now:
                continue
            latest = state.next_fire
            while (nxt := self._next(state.cron, latest)) <= now:
                latest = nxt  # the most recent due time; earlier ones are folded into it
            missed = now - latest > GRACE or latest != state.next_fire
            if missed and self.missed == "skip":
                decision, run_id = f"skipped: missed {latest:%Y-%m-%d %H:%M %Z} while the " \
                                   "service was down (policy skip)", None
            elif running(state.intent):
                decision, run_id = "skipped: the previous run is still going", None
            else:
                try:
                    run_id = await start(state.intent)
                    decision = ("started (missed while the service was down; policy "
                                "run-once)" if missed else "started")
                except Exception as exc:  # refused (a closed deploy window, ...): recorded
                    decision, run_id = f"skipped: {getattr(exc, 'message', exc)}", None
            self._record(state.intent, latest, decision, run_id)
            decisions.append((state.intent, decision))
        return decisions

    def seconds_to_next(self, cap: float = 30.0) -> float:
        now = self._now()
        waits = [(s.next_fire - now).total_seconds() for s in self.states()]
        return max(0.5, min([cap, *waits]))
