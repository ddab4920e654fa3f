"""A blue-green step: the new version starts beside the old one and gets traffic only once
it has proven itself.

Decide first (every check, no change): the proxy answers and knows the backend; the live
slot is the one the proxy says; Compose reads both slots' files; the two copies may run
together. Then change: start the idle slot (pulling for a rollout, starting the standby
for a rollback), gate it directly (health gates aimed at its port, smoke requests),
switch in one step, gate again through the stable address, drain the old slot by the
proxy's own counters, stop it and keep it as the standby.

When the new slot fails before the switch it never received a request: it is stopped and
the run ends ``rolled_back``. When it fails after the switch, traffic goes back to the old
slot, which is still running while it drains. When the proxy dies during the switch, the
old slot keeps serving (the proxy's file still names it) and the run ends ``failed``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from msgspec.structs import replace

from chatops import events as ev
from chatops.errors import ChatopsError, EngineError
from chatops.planning import slots
from chatops.planning.steps import Gate
from chatops.runner.hooks import run_hooks
from chatops.runner.project import ComposeConfigError, parse_config
from chatops.runner.slot_step import PhaseFailedError, SlotStep
from chatops.runner.slots import aimed, delta, smoke_one, through_proxy, two_copies_problems
from chatops.runner.snapshot import take_snapshot
from chatops.runner.state import StepState
from chatops.runner.strategies import Outcome, Strategy, register
from chatops.store.records import RunStatus
from chatops.tls import async_client
from chatops.traffic.base import Driver, Routing, other

if TYPE_CHECKING:
    from chatops.runner.state import StepIO



class BlueGreen(SlotStep):
    """One blue-green step of one run: the new version in the idle slot, gated, then the
    switch."""

    async def run(self) -> tuple[RunStatus, str]:
        try:
            driver = self.ex.traffic(self.step.stack, self.service, self.traffic) \
                if self.ex.traffic is not None else None
        except ChatopsError as exc:
            return RunStatus.failed, f"{exc.message} (nothing was changed)"
        if driver is None:
            return RunStatus.failed, "no traffic drivers in this process (nothing was changed)"
        try:
            return await self._run(driver)
        finally:
            self._save()
            await driver.close()

    async def _decide(self, driver: Driver
                      ) -> tuple[Routing, str, asyncio.Future[None] | None]:
        """Every check before a change: the proxy, the live slot, Compose's reading of
        both slots. Returns the routing, the live slot and the pull under way."""
        await driver.check()
        routing = await driver.routing()
        if routing.paused:
            raise PhaseFailedError(
                f"{self.step.stack} is paused (maintenance); 'chatops resume "
                f"{self.step.stack}' first")
        live = routing.live or "blue"
        # The pull changes nothing that runs: it goes beside Compose's reading of the
        # slots (as a recreate's does), and its result counts only once they pass.
        pulling = None if self.step.action == "rollback" else \
            asyncio.ensure_future(self._pull(other(live)))
        try:
            await self._read_slots(live, other(live))
        except BaseException:
            if pulling is not None:
                pulling.cancel()
                await asyncio.gather(pulling, return_exceptions=True)
            raise
        return routing, live, pulling

    async def _run(self, driver: Driver) -> tuple[RunStatus, str]:
        try:
            routing, live, pulling = await self._decide(driver)
        except (ChatopsError, EngineError) as exc:
            return RunStatus.failed, f"{exc.message} (nothing was changed)"
        idle = other(live)
        self.record.update(before=live, target=idle)
        self._note(f"{live} is live (by the proxy); {idle} is the idle slot")
        self.state.before = await take_snapshot(self.ex.engine, self.projects[live],
                                                [self.service], self.step.stack)
        self.ex.save_snapshot(self.run_id, self.step, "before", self.state.before)
        vetoed = await run_hooks(self.ex, self.run_id, self.intent, self.step,
                                 kind="pre_deploy", env=self._hook_env())
        if vetoed:
            if pulling is not None:
                await asyncio.gather(pulling, return_exceptions=True)
            return RunStatus.failed, f"{vetoed} (nothing was changed)"
        try:
            if len(routing.ready) == 2:  # a switch was cut short: the idle slot still serves
                self._note(f"{idle} still takes requests (an earlier switch was cut short); "
                           f"moving them to {live} first")
                await driver.switch(live)
                await self._drain(driver, idle)
            if pulling is not None:
                await pulling
            await self._start(idle, live)
        except (ChatopsError, EngineError) as exc:
            return await self._not_switched(driver, idle, exc.message)
        # -- gate the idle slot directly, then smoke it ---------------------------------
        problem = await self._gate_slot(idle) or await self._smoke(idle)
        if problem:
            return await self._not_switched(driver, idle, problem)
        # -- switch ------------------------------------------------------------------------
        healthy = time.monotonic()
        try:
            failed_before = self.failed_before = (await driver.counters()).failed
        except ChatopsError as exc:
            return await self._switch_failed(driver, idle, live, exc.message)
        outcome = await self._shift(driver, idle, live, healthy)
        if outcome is not None:
            return outcome
        # -- verify through the proxy --------------------------------------------------
        problem = await self._gate_through_proxy(idle)
        hook_failed = None
        if not problem:
            hook_failed = await run_hooks(self.ex, self.run_id, self.intent, self.step,
                                          kind="post_deploy", env=self._hook_env())
            if hook_failed and self.step.rollback_on_hook_failure:
                problem = hook_failed
        if problem and self.step.rollback is None:
            return RunStatus.failed, (f"{problem} (rollback is off: {idle} keeps the "
                                      f"traffic; {live} is still running)")
        if problem:
            return await self._switch_back(driver, idle, live, problem, failed_before)
        await self._keep_as_standby(driver, live, idle, failed_before)
        if hook_failed:
            return RunStatus.succeeded, f"succeeded, but {hook_failed} (the change stays: " \
                "rollback_on_hook_failure is off)"
        return RunStatus.succeeded, "succeeded"

    async def _shift(self, driver: Driver, idle: str, live: str, healthy: float
                     ) -> tuple[RunStatus, str] | None:
        """Move the traffic to ``idle`` (one switch here; a canary's steps in
        ``Canary``); the run's end when it could not."""
        try:
            await driver.switch(idle)
        except ChatopsError as exc:
            return await self._switch_failed(driver, idle, live, exc.message)
        self._switched(idle, live, healthy)
        return None

    def _switched(self, idle: str, live: str, healthy: float) -> None:
        switched = time.monotonic()
        self.record.update(switched=True, after=idle,
                           switched_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                           healthy_to_switched_ms=round((switched - healthy) * 1000, 1))
        self._note(f"traffic switched from {live} to {idle} "
                   f"({self.record['healthy_to_switched_ms']} ms after it passed its gates)")
        self._save()

    async def _keep_as_standby(self, driver: Driver, live: str, idle: str,
                               failed_before: int | None) -> None:
        """Drain the old slot, stop it, and keep it for the standby window."""
        try:
            await self._drain(driver, live)
            await driver.retire(live)
            await self._stop(live, f"stop the old slot {live} (kept as the standby)",
                             "drain")
        except (ChatopsError, EngineError) as exc:
            self._note(f"the old slot {live} could not be retired: {exc.message}")
        until = (datetime.now(UTC) + timedelta(seconds=self.traffic.standby)).isoformat(
            timespec="milliseconds")
        self.record["standby"] = {"slot": live, "until": until}
        self.ex.store.set_standby(stack=self.step.stack, service=self.service, slot=live,
                                  project=self._project(live), until=until,
                                  traffic=self.traffic.model_dump(mode="json"),
                                  run_id=self.run_id)
        self.record["failed_requests"] = delta(await self._failed(driver), failed_before)
        await self._after_snapshot(idle)

    async def _read_slots(self, live: str, idle: str) -> None:
        """Compose's view of the new slot (refusing an invalid file), and whether it may
        run beside the live slot's containers."""
        step = self.step
        try:
            content = step.compose.read_bytes()
        except OSError as exc:
            raise PhaseFailedError(f"cannot read {step.compose}: {exc.strerror}") from None
        argv = slots.config(self.ex.compose_command, step.compose, self._project(idle))
        description = f"read the compose file for slot {idle}"
        (lines, failed), running = await asyncio.gather(
            self.ex.read_compose(self.run_id, self.intent, step, argv, content, description,
                                 env=slots.slot_env(self.traffic, idle)),
            self.ex.engine.containers(self._project(live), [self.service]))
        if lines is None:
            raise PhaseFailedError(f"{description} failed: {failed}")
        text = "\n".join(lines)
        try:
            render = json.loads(text)
            parsed = parse_config(text, step.compose, content)
            parsed.pick(self.service)
        except (json.JSONDecodeError, ComposeConfigError) as exc:
            message = exc.message if isinstance(exc, ComposeConfigError) else str(exc)
            raise PhaseFailedError(message) from None
        for slot in (live, idle):
            self.projects[slot] = replace(parsed, name=self._project(slot))
        if not self.traffic.two_copies:
            published = {p for c in running if c.running for p in c.published}
            problems = two_copies_problems(self.service, render, published)
            if problems:
                raise PhaseFailedError(
                    f"service {self.service} in {step.compose} cannot run in two slots: "
                    + "; ".join(problems) + " (or set traffic.two_copies: true)")

    async def _start(self, idle: str, live: str) -> None:
        cmd, file, project = self.ex.compose_command, self.step.compose, self._project(idle)
        if self.step.action == "rollback":
            standby = await self._standby(idle, live)
            if standby == "running":
                self._note(f"the standby slot {idle} is still running: switching back to it")
                return
            if standby == "stopped":
                await self._compose(idle, slots.start(cmd, file, project, self.service),
                                    f"start the standby slot {idle} (no pull)", "deploy",
                                    mutating=True)
                return
            self._note(f"the standby slot {idle} is gone: recreating it on the previous "
                       "images")
            await self._retag_previous(live)
            await self._compose(idle, slots.up(cmd, file, project, self.service),
                                f"recreate {self.service} in slot {idle} on the previous "
                                "images (no pull)", "deploy", mutating=True)
            return
        await self._compose(idle, slots.up(cmd, file, project, self.service),
                            f"start {self.service} in slot {idle}; {live} keeps serving",
                            "deploy", mutating=True)

    async def _pull(self, idle: str) -> None:
        await self._compose(idle, slots.pull(self.ex.compose_command, self.step.compose,
                                             self._project(idle), self.service),
                            f"pull the image of {self.service} for slot {idle}", "deploy",
                            mutating=False)

    async def _standby(self, idle: str, live: str) -> str | None:
        """``running`` or ``stopped`` when the idle slot holds a version other than the
        live one; None when there is nothing there to go back to."""
        engine = self.ex.engine
        idle_c = await engine.containers(self._project(idle), [self.service])
        live_c = await engine.containers(self._project(live), [self.service])
        live_images = {c.image_id for c in live_c if c.running}
        usable = [c for c in idle_c if c.image_id not in live_images]
        if not usable:
            return None
        return "running" if any(c.running for c in usable) else "stopped"

    async def _retag_previous(self, live: str) -> None:
        """Point the service's image reference at the newest good image that differs from
        what the live slot runs (the recreate path's history)."""
        state = StepState(self.step, project=self.projects[live], services=[self.service])
        state.before = await take_snapshot(self.ex.engine, self.projects[live],
                                           [self.service], self.step.stack)
        await self.ex.retag_to_last_good(self.run_id, self.intent, state)

    def _slot_state(self, slot: str, gates: tuple[Gate, ...]) -> StepState:
        step = replace(self.step, gates=gates, action="rollout")
        return StepState(step, project=self.projects[slot], services=[self.service])

    async def _gate_slot(self, slot: str) -> str | None:
        gates = tuple(g for g in (aimed(g, self.traffic, slot) for g in self.step.gates)
                      if g is not None)
        if not gates:
            return None
        failure = await self.ex.gates(self.run_id, self.intent, self._slot_state(slot, gates),
                                       "deploy")
        return f"{failure} (slot {slot}, before any traffic reached it)" if failure else None

    async def _gate_through_proxy(self, slot: str) -> str | None:
        gates = through_proxy(self.step.gates, self.traffic)
        if not gates:
            return None
        failure = await self.ex.gates(self.run_id, self.intent, self._slot_state(slot, gates),
                                       "switched")
        return f"{failure} (through {self.traffic.listen}, after the switch)" \
            if failure else None

    async def _smoke(self, slot: str) -> str | None:
        if not self.traffic.smoke:
            return None
        base = f"http://{self.traffic.host}:{getattr(self.traffic.ports, slot)}"
        async with async_client(base_url=base, follow_redirects=False) as client:
            for check in self.traffic.smoke:
                ok, detail, took = await smoke_one(client, check)
                description = f"smoke: {check.method} {base}{check.path}"
                self.ex.store.add_gate(self.run_id, doc=self.step.index, phase="smoke",
                                       kind="smoke", description=description, ok=ok,
                                       detail=detail, duration=took)
                self.ex.emit(self.run_id, self.intent, ev.GATE_FINISHED,
                              description=description, phase="smoke", ok=ok, detail=detail,
                              kind="smoke")
                if not ok:
                    return f"smoke check failed: {check.method} {check.path} {detail} " \
                        f"(slot {slot}, before any traffic reached it)"
        return None

    async def _after_snapshot(self, slot: str) -> None:
        taken = await take_snapshot(self.ex.engine, self.projects[slot], [self.service],
                                    self.step.stack)
        taken.update(
            health=[g.check.model_dump(mode="json") for g in self.step.gates
                    if not g.implicit],
            action=self.step.action, strategy="blue-green", slot=slot,
            service=self.service, traffic=self.traffic.model_dump(mode="json"))
        self.ex.save_snapshot(self.run_id, self.step, "after", taken)


def runs(kind: type[BlueGreen]) -> Callable[[StepIO, str, str, StepState], Awaitable[Outcome]]:
    """The strategy's run: one ``kind`` step (blue-green, or a canary)."""

    async def run(ex: StepIO, run_id: str, intent: str, state: StepState) -> Outcome:
        return await kind(ex, run_id, intent, state).run()

    return run


KIND = register(Strategy(name="blue-green", summary="start the new version in the idle "
                         "slot, gate it, switch the proxy, drain and stop the old one",
                         run=runs(BlueGreen)))
