"""What a step that runs a service in two slots (blue-green, canary) holds: the run's
record of its traffic, the two Compose projects, and the ways back: the idle slot
stopped before the switch, the traffic sent back to the live slot after it."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from chatops import events as ev
from chatops.errors import ChatopsError, EngineError
from chatops.planning import slots
from chatops.planning.steps import Command
from chatops.runner.hooks import hook_env
from chatops.runner.project import ComposeProject
from chatops.runner.slots import delta
from chatops.store.records import RunStatus
from chatops.traffic.base import Driver, other

if TYPE_CHECKING:
    from chatops.runner.state import StepIO, StepState

DRAIN_POLL = 0.05
STOP_TIMEOUT = 10.0  # Compose's default: SIGTERM, then SIGKILL



class PhaseFailedError(ChatopsError):
    """A phase of the blue-green step failed; what it leaves behind is handled by phase."""


class SlotStep:
    """One step of one run over two slots."""

    def __init__(self, ex: StepIO, run_id: str, intent: str, state: StepState) -> None:
        step = state.step
        assert step.blue_green is not None  # noqa: S101 - the executor checked
        assert step.service is not None  # noqa: S101
        self.ex = ex
        self.run_id = run_id
        self.intent = intent
        self.state = state  # its ``before``: what the live slot ran
        self.step = step
        self.traffic = step.blue_green.traffic
        self.service = step.service
        self.record: dict[str, Any] = {
            "service": step.service, "driver": self.traffic.driver,
            "listen": self.traffic.listen, "before": None, "after": None,
            "switched": False,
        }
        self.projects: dict[str, ComposeProject] = {}
        self.changed = False
        self.failed_before: int | None = None  # the proxy's failed count before the switch

    def _note(self, text: str) -> None:
        self.ex.note(self.run_id, self.intent, text)

    def _save(self) -> None:
        self.ex.store.set_traffic(self.run_id, self.record)

    def _mark_changed(self) -> None:
        if not self.changed:
            self.changed = True
            self.ex.store.mark_changed(self.run_id)

    async def _compose(self, slot: str, argv: tuple[str, ...], description: str, phase: str,
                       *, mutating: bool) -> None:
        cmd = Command(argv, description, self.step.timeout, mutating)
        if mutating:
            self._mark_changed()
        result = await self.ex.command(
            self.run_id, self.intent, self.step, cmd, phase, argv,
            env=slots.slot_env(self.traffic, slot))
        if not result.ok:
            raise PhaseFailedError(f"{description} failed: {result.describe()}")

    def _hook_env(self) -> dict[str, str]:
        return hook_env(self.ex, self.run_id, self.intent, self.step, before=self.state.before)

    def _project(self, slot: str) -> str:
        return slots.slot_project(self.step.stack, self.service, slot)

    async def _drain(self, driver: Driver, slot: str) -> None:
        """Wait until the proxy has no request open on ``slot``, up to ``drain``."""
        start = time.monotonic()
        deadline = start + self.traffic.drain
        first = await driver.counters()
        if slot not in first.open:
            # Nothing to confirm with: the old slot keeps running for the whole window.
            await asyncio.sleep(self.traffic.drain)
            self.record.update(drain_seconds=round(time.monotonic() - start, 3),
                               drain_left=None)
            self._note(f"{self.traffic.driver} keeps no count of open requests: {slot} "
                       f"kept running for the whole drain ({self.traffic.drain:g}s)")
            return
        left = first.open[slot]
        while left and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_POLL)
            left = (await driver.counters()).open.get(slot, 0)
        took = round(time.monotonic() - start, 3)
        self.record.update(drain_seconds=took, drain_left=left)
        if left:
            self._note(f"{left} request(s) were still open on {slot} after the "
                       f"{self.traffic.drain:g}s drain; they are cut")
        else:
            self._note(f"{slot} drained in {took:.2f}s (no request open, by the proxy)")

    async def _failed(self, driver: Driver) -> int | None:
        return (await driver.counters()).failed

    async def _stop_idle(self, idle: str) -> str | None:
        try:
            await self._stop(idle, f"stop slot {idle} (it no longer serves)", "rollback")
        except (ChatopsError, EngineError) as exc:
            return exc.message
        return None

    async def _stop(self, slot: str, description: str, phase: str) -> None:
        """Stop the slot's containers through the Engine API (they stay, intact)."""
        self._mark_changed()
        project = self._project(slot)
        containers = await self.ex.engine.containers(project, [self.service])
        ids = [c.id for c in containers if c.running]
        async with self.ex.recorded(self.run_id, self.step, phase, description,
                                    ["engine-api", "stop", *(i[:12] for i in ids)]):
            await asyncio.gather(*(self.ex.engine.stop(i, STOP_TIMEOUT) for i in ids))

    async def _not_switched(self, driver: Driver, idle: str, reason: str
                            ) -> tuple[RunStatus, str]:
        live = other(idle)
        if not self.changed:
            return RunStatus.failed, f"{reason} (nothing was changed)"
        self.record.update(after=live)
        if self.step.rollback is None:
            return RunStatus.failed, (f"{reason} (rollback is off: slot {idle} is left "
                                      f"running for inspection; {live} still serves)")
        self.ex.emit(self.run_id, self.intent, ev.ROLLBACK_STARTED, reason=reason,
                      action=self.step.action, stack=self.step.stack, service=self.service,
                      doc=self.step.index, docs=self.step.count)
        problem = await self._stop_idle(idle)
        if problem:
            return RunStatus.rollback_failed, (
                f"{reason}; {live} still serves, but stopping {idle} failed: {problem}")
        return RunStatus.rolled_back, (
            f"{reason}; {idle} never received traffic and was stopped; {live} still serves")

    async def _switch_failed(self, driver: Driver, idle: str, live: str, reason: str
                             ) -> tuple[RunStatus, str]:
        """The proxy refused or died during the switch: keep (or put) the old slot live."""
        try:
            routing = await driver.routing()
            if routing.live != live or len(routing.ready) != 1:
                await driver.switch(live)
            kept = f"{live} still serves"
        except ChatopsError:
            kept = f"{live} still serves once the proxy is back (its configuration still " \
                "names it)"
        self.record.update(after=live)
        problem = await self._stop_idle(idle)
        extra = f"; stopping {idle} failed: {problem}" if problem else f"; {idle} was stopped"
        return RunStatus.failed, f"the switch to {idle} failed: {reason}; {kept}{extra}"

    async def _switch_back(self, driver: Driver, idle: str, live: str, reason: str,
                           failed_before: int | None) -> tuple[RunStatus, str]:
        """Every request back to ``live`` (still running), then ``idle`` drained and
        stopped."""
        self.ex.emit(self.run_id, self.intent, ev.ROLLBACK_STARTED, reason=reason,
                      action=self.step.action, stack=self.step.stack, service=self.service,
                      doc=self.step.index, docs=self.step.count)
        start = time.monotonic()
        try:
            await driver.switch(live)
        except ChatopsError as exc:
            self.record.update(after=idle)
            return RunStatus.rollback_failed, (
                f"{reason}; sending the traffic back to {live} failed: {exc.message}")
        took = round((time.monotonic() - start) * 1000, 1)
        self.record.update(after=live, switch_back_ms=took)
        self._switched_back(took)
        self._note(f"every new request goes to {live} again ({took} ms)")
        self._save()
        try:
            await self._drain(driver, idle)
            await driver.retire(idle)
        except ChatopsError as exc:
            self._note(f"slot {idle} could not be retired: {exc.message}")
        problem = await self._stop_idle(idle)
        self.record["failed_requests"] = delta(await self._failed(driver), failed_before)
        if problem:
            return RunStatus.rollback_failed, (
                f"{reason}; {live} serves again, but stopping {idle} failed: {problem}")
        return RunStatus.rolled_back, f"{reason}; {self._back_words(live)}"

    def _switched_back(self, took_ms: float) -> None:
        self.record["switched_back"] = True

    def _back_words(self, live: str) -> str:
        return f"switched back to {live}, which still serves"
