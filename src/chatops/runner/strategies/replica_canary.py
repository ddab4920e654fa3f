"""The seed's replica canary: for a service with N > 1 replicas, one new replica starts
beside the N old ones and is gated; then each old replica is removed and another new one
started and gated, in turn. At no moment do fewer than N replicas run. A failure
restores the old images (the snapshot's rollback) and the old replica count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatops.errors import ChatopsError, EngineError
from chatops.planning import compose as c
from chatops.planning.steps import Command
from chatops.runner.hooks import after_change, before_change
from chatops.runner.state import StepFailedError, StepState
from chatops.runner.strategies import Outcome, Strategy, register
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.runner.state import StepIO


class ReplicaCanary:
    def __init__(self, ex: StepIO, run_id: str, intent: str, state: StepState) -> None:
        self.ex, self.run_id, self.intent, self.state = ex, run_id, intent, state
        self.step = state.step
        assert self.step.service is not None  # noqa: S101 - planned with a service
        self.service = self.step.service

    def _note(self, text: str) -> None:
        self.ex.note(self.run_id, self.intent, text)

    async def run(self) -> tuple[RunStatus, str]:
        ex, step, state = self.ex, self.step, self.state
        try:
            await ex.prepare(self.run_id, self.intent, state)
            await ex.commands(self.run_id, self.intent, state, step.commands[:1])  # pull
            assert state.project is not None  # noqa: S101 - set by _prepare
            want = state.project.services[self.service].replicas
            if want < 2:
                raise StepFailedError(
                    f"a replica canary needs at least 2 replicas of {self.service}; the "
                    f"compose file asks for {want} (use strategy blue-green, or replicas)")
            await before_change(ex, self.run_id, self.intent, state)
            old = [ct for ct in await ex.engine.containers(state.project.name, [self.service])
                   if ct.running]
            new_image = await ex.engine.image_id(state.project.services[self.service].image)
            old = [ct for ct in old if ct.image_id != new_image]
            self._note(f"replica canary of {self.service}: {len(old)} old replica(s) to "
                       f"replace, {want} wanted; never fewer than {want} running")
            await self._grow(want + 1 if old else want, "the canary")
            for i, container in enumerate(old, start=1):
                await self._remove(container.id, container.name, i, len(old))
                if i < len(old):
                    await self._grow(want + 1, f"new replica {i + 1}")
            if not old:
                self._note("no replica ran an older image: nothing to replace")
            hook_failed = await after_change(ex, self.run_id, self.intent, state)
        except (StepFailedError, EngineError) as exc:
            return await ex.after_failure(self.run_id, self.intent, state, exc.message)
        except ChatopsError as exc:
            return await ex.after_failure(self.run_id, self.intent, state, exc.message)
        await ex.save_after(self.run_id, state)
        if hook_failed:
            return RunStatus.succeeded, f"succeeded, but {hook_failed} (the change stays: " \
                "rollback_on_hook_failure is off)"
        return RunStatus.succeeded, "succeeded"

    async def _grow(self, replicas: int, what: str) -> None:
        """Compose adds replicas (new image) up to ``replicas``, leaving the others as they
        are; then the gates judge them all."""
        ex, state = self.ex, self.state
        argv = c.compose(ex.compose_command, self.step.compose, "up", "-d", "--no-deps",
                         "--no-recreate", "--scale", f"{self.service}={replicas}",
                         self.service)
        cmd = Command(argv, f"start {what} of {self.service} ({replicas} replicas)",
                      self.step.timeout, True)
        result = await ex.command(self.run_id, self.intent, self.step, cmd, "deploy", argv)
        if not state.changed:
            state.changed = True
            ex.store.mark_changed(self.run_id)
        if not result.ok:
            raise StepFailedError(f"{cmd.description} failed: {result.describe()}")
        failure = await ex.gates(self.run_id, self.intent, state, "deploy",
                                  expected={self.service: replicas})
        if failure is not None:
            raise StepFailedError(f"{failure} ({what})")

    async def _remove(self, container_id: str, name: str, number: int, count: int) -> None:
        async with self.ex.recorded(self.run_id, self.step, "deploy",
                                    f"remove old replica {number}/{count} ({name})",
                                    ["engine-api", "remove", container_id[:12]]):
            await self.ex.engine.remove(container_id)


async def run(ex: StepIO, run_id: str, intent: str, state: StepState) -> Outcome:
    return await ReplicaCanary(ex, run_id, intent, state).run()


KIND = register(Strategy(name="replica-canary", summary="strategy canary without traffic: "
                         "one new replica beside the old ones, then each old one replaced",
                         run=run))
