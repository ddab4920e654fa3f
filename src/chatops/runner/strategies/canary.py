"""A canary step: a blue-green step whose switch is made in weighted steps, each judged
by the proxy's own per-slot counters.

At each step the new slot gets its weight of new requests and the stable slot the rest;
every ``interval`` the analysis compares the window's numbers of both slots with the
intent's limits. A failing window sends every request back to the stable slot at once,
stops the canary, and ends the run ``rolled_back`` with the numbers. A step that saw
fewer than ``min_requests`` does what ``too_few`` says. A ``pause: manual`` step holds
until ``chatops promote RUN`` (or ``abort``); its analysis keeps running meanwhile.
The last step (weight 100) is the blue-green switch, then the old slot drains.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatops import events as ev
from chatops.errors import ChatopsError
from chatops.intents.canary import MANUAL, Canary, CanaryStep
from chatops.runner.analysis import Window, judge, window
from chatops.runner.strategies import Strategy, register
from chatops.runner.strategies.blue_green import BlueGreen, runs
from chatops.store.records import RunStatus
from chatops.traffic.base import Counters, Driver

if TYPE_CHECKING:
    pass

SIGNAL_POLL = 0.2
HISTORY = 20  # analysis windows kept in the run record


class CanaryRun(BlueGreen):
    """One canary step of one run."""

    @property
    def limits(self) -> Canary:
        assert self.step.canary is not None  # noqa: S101 - planned as a canary
        return self.step.canary

    async def _shift(self, driver: Driver, idle: str, live: str, healthy: float
                     ) -> tuple[RunStatus, str] | None:
        steps = self.limits.steps
        self.record["canary"] = {"steps": [s.model_dump(mode="json") for s in steps],
                                 "step": 0, "weight": 0, "windows": []}
        for number, step in enumerate(steps, start=1):
            if step.weight >= 100:
                break
            try:
                await driver.weigh(idle, step.weight)
            except ChatopsError as exc:
                return await self._abort(driver, idle, live,
                                         f"setting the weights failed: {exc.message}")
            self.record["canary"].update(step=number, weight=step.weight,
                                         since=_now(), waiting=None)
            self._note(f"canary step {number}/{len(steps)}: {step.weight}% of new requests "
                       f"to {idle}, {100 - step.weight}% to {live}")
            self._save()
            failure = await self._analyze(driver, idle, live, number, step)
            if failure is not None:
                return await self._abort(driver, idle, live, failure)
        self.record["canary"].update(step=len(steps), weight=100, waiting=None)
        return await super()._shift(driver, idle, live, healthy)

    # -- analysis -----------------------------------------------------------------------

    async def _analyze(self, driver: Driver, idle: str, live: str, number: int,
                       step: CanaryStep) -> str | None:
        """Judge the step window by window until its pause ends (or a promote); why the
        canary must stop, or None to go on."""
        limits = self.limits
        start = time.monotonic()
        manual = step.pause == MANUAL
        end = None if manual or step.pause is None else start + float(step.pause)
        first = mark = await driver.counters()
        step_total = Window()
        next_tick = start + limits.interval
        if manual:
            self.record["canary"]["waiting"] = "promote"
            self._note(f"canary step {number} waits for 'chatops promote {self.run_id}' "
                       f"(or abort); the analysis goes on meanwhile")
            self._save()
            self.ex.emit(self.run_id, self.intent, ev.CANARY_WAITING, step=number,
                          weight=step.weight,
                          reason=f"canary at {step.weight}% (step {number}); chatops "
                          f"promote {self.run_id} (or abort)")
        while True:
            signal = await self._signal_until(min(next_tick, end or next_tick))
            if signal is not None and signal["signal"] == "abort":
                return f"aborted by {signal['actor']} at step {number} ({step.weight}%)"
            now = await driver.counters()
            if time.monotonic() >= next_tick or signal is not None or (
                    end is not None and time.monotonic() >= end):
                canary, stable = self._window(mark, now, idle, live)
                verdict = judge(canary, stable, limits)
                if verdict.outcome != "too_few":  # a window counts once it has enough
                    self._record_window(number, step.weight, verdict.outcome, verdict.text)
                    if verdict.outcome == "fail":
                        return f"canary analysis failed at step {number} " \
                            f"({step.weight}%): {verdict.text}"
                    mark = now
                next_tick = time.monotonic() + limits.interval
            step_total = self._window(first, now, idle, live)[0]
            if signal is not None and signal["signal"] == "promote":
                self._note(f"promoted by {signal['actor']} at step {number}")
                return None
            if end is not None and time.monotonic() >= end:
                if step_total.requests >= limits.min_requests:
                    return None
                decided = self._too_few(number, step, step_total)
                if decided != "wait":
                    return decided or None
                end = time.monotonic() + limits.interval  # wait one more window

    def _window(self, before: Counters, after: Counters, idle: str, live: str
                ) -> tuple[Window, Window]:
        return (window(before.slots.get(idle), after.slots.get(idle)),
                window(before.slots.get(live), after.slots.get(live)))

    def _too_few(self, number: int, step: CanaryStep, total: Window) -> str:
        """``wait``, ``""`` (promote) or why to abort, by the intent's ``too_few``."""
        choice = self.limits.too_few
        text = (f"step {number} ({step.weight}%) saw {total.requests} requests, fewer than "
                f"min_requests {self.limits.min_requests}")
        self._record_window(number, step.weight, "too_few", text)
        if choice == "wait":
            if self.record["canary"].get("waiting") != "traffic":
                self.record["canary"]["waiting"] = "traffic"
                self._note(f"{text}: waiting for more traffic")
                self._save()
            return "wait"
        if choice == "promote":
            self._note(f"{text}: going on (too_few: promote)")
            return ""
        return f"canary aborted: {text} (too_few: abort)"

    def _record_window(self, number: int, weight: int, outcome: str, text: str) -> None:
        windows: list[dict[str, Any]] = self.record["canary"]["windows"]
        windows.append({"step": number, "weight": weight, "outcome": outcome, "at": _now(),
                        "numbers": text})
        del windows[:-HISTORY]
        self.record["canary"]["last"] = text
        self.ex.store.add_gate(self.run_id, doc=self.step.index, phase="canary",
                               kind="analysis", description=f"canary step {number} at "
                               f"{weight}%", ok=outcome != "fail", detail=text, duration=0.0)
        self.ex.emit(self.run_id, self.intent, ev.GATE_FINISHED,
                      description=f"canary analysis, step {number} at {weight}%",
                      phase="canary", ok=outcome != "fail", detail=text, kind="analysis")
        self._save()

    async def _signal_until(self, until: float) -> dict[str, str] | None:
        """Wait until ``until``; a promote or abort given meanwhile ends the wait."""
        while True:
            signals = self.ex.store.signals(self.run_id)
            if len(signals) > self._signals_used:
                self._signals_used = len(signals)
                return signals[-1]
            left = until - time.monotonic()
            if left <= 0:
                return None
            await asyncio.sleep(min(SIGNAL_POLL, left))

    _signals_used = 0

    # -- stopping -----------------------------------------------------------------------

    async def _abort(self, driver: Driver, idle: str, live: str, reason: str
                     ) -> tuple[RunStatus, str]:
        """Every request back to the stable slot at once, then the canary stopped."""
        return await self._switch_back(driver, idle, live, reason, self.failed_before)

    def _switched_back(self, took_ms: float) -> None:
        self.record["canary"].update(weight=0, stopped_at=_now(), stop_ms=took_ms,
                                     waiting=None)

    def _back_words(self, live: str) -> str:
        return f"{live} serves every request again"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")



KIND = register(Strategy(name="canary", summary="the new version in the idle slot gets a "
                         "growing share of requests, judged by its error rate and latency",
                         run=runs(CanaryRun)))
